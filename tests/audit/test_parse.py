"""The CI comment parser, on the message forms third-party CIs and Zuul post on Gerrit."""

from __future__ import annotations

import pytest

from driverci.audit.parse.comment import (
    CiAttributor,
    CiIdentity,
    JobResult,
    RecheckRequest,
    attribute_author,
    compile_ci_pattern,
    is_recheck,
    looks_like_ci,
    parse_ci_message,
)
from driverci.errors import ConfigError

ZUUL_V3_FAILURE = (
    "Patch Set 7: Verified-1\n\n"
    "Build failed (check pipeline).  For information on how to proceed, see "
    "https://docs.opendev.org/opendev/infra-manual/latest/developers.html#automated-testing\n\n"
    "- ironic-tempest-bios-redfish-pxe https://zuul.opendev.org/t/openstack/build/0a1b2c "
    ": SUCCESS in 1h 02m 03s\n"
    "- ironic-tempest-uefi-redfish-vmedia https://zuul.opendev.org/t/openstack/build/3d4e5f "
    ": FAILURE in 58m 10s\n"
    "- ironic-grenade https://zuul.opendev.org/t/openstack/build/6a7b8c : FAILURE in 2m 05s "
    "(non-voting)\n"
    "- ironic-tempest-functional-python3 : SKIPPED\n"
)


class TestZuulReports:
    def test_a_failed_check_gives_patch_set_vote_pipeline_and_every_job(self) -> None:
        parsed = parse_ci_message(ZUUL_V3_FAILURE)

        assert parsed.kind == "result"
        assert parsed.result == "FAILURE"
        assert parsed.result_source == "header"
        assert parsed.patch_set == 7
        assert parsed.votes == {"Verified": -1}
        assert parsed.pipeline == "check"
        assert parsed.is_parseable
        assert [job.name for job in parsed.jobs] == [
            "ironic-tempest-bios-redfish-pxe",
            "ironic-tempest-uefi-redfish-vmedia",
            "ironic-grenade",
            "ironic-tempest-functional-python3",
        ]
        assert parsed.jobs[0] == JobResult(
            name="ironic-tempest-bios-redfish-pxe",
            url="https://zuul.opendev.org/t/openstack/build/0a1b2c",
            result="SUCCESS",
            duration_seconds=3723,
        )
        assert parsed.jobs[2].non_voting
        assert parsed.jobs[2].duration_seconds == 125
        assert parsed.jobs[3].url is None
        assert parsed.jobs[3].result == "SKIPPED"

    def test_without_a_status_line_the_voting_jobs_decide(self) -> None:
        only_non_voting_failed = (
            "Patch Set 2:\n\n- a http://logs/a : SUCCESS in 45s\n"
            "- b http://logs/b : FAILURE in 45s (non-voting)\n- c : SKIPPED\n"
        )
        voting_timed_out = "Patch Set 2:\n\n- a http://logs/a : TIMED_OUT in 3h 00m 00s\n"

        assert parse_ci_message(only_non_voting_failed).result == "SUCCESS"
        assert parse_ci_message(only_non_voting_failed).result_source == "jobs"
        assert parse_ci_message(voting_timed_out).result == "FAILURE"

    def test_every_zuul_result_word_is_kept_as_written(self) -> None:
        results = ["POST_FAILURE", "RETRY_LIMIT", "NODE_FAILURE", "NOT_REGISTERED", "LOST"]
        text = "\n".join(f"- job{i} https://z/{i} : {word}" for i, word in enumerate(results))

        assert [job.result for job in parse_ci_message(text).jobs] == results

    def test_zuul_error_detail_after_the_result_is_the_job_comment(self) -> None:
        text = "- unit https://z/1 : NODE_FAILURE Node request 200-123 failed"

        (job,) = parse_ci_message(text).jobs

        assert job.result == "NODE_FAILURE"
        assert job.comment == "Node request 200-123 failed"

    def test_start_merge_failure_and_cancel_are_not_results(self) -> None:
        start = parse_ci_message("Patch Set 3: -Verified\n\nStarting check jobs.")
        merge = parse_ci_message(
            "Patch Set 4: Verified-1\n\nMerge Failed.\n\nThis change or one of its cross-repo "
            "dependencies was unable to be automatically merged with the current state of "
            "its repository. Please rebase the change and upload a new patchset."
        )
        canceled = parse_ci_message("Patch Set 5:\n\nBuild canceled (check pipeline).")

        assert (start.kind, start.result, start.votes) == ("start", "UNKNOWN", {"Verified": 0})
        assert (merge.kind, merge.result) == ("merge_failure", "FAILURE")
        assert (canceled.kind, canceled.result, canceled.pipeline) == (
            "canceled",
            "UNKNOWN",
            "check",
        )
        assert start.is_parseable and merge.is_parseable and canceled.is_parseable


class TestThirdPartyReports:
    def test_infra_template_lines_with_free_comments(self) -> None:
        text = (
            "Patch Set 1:\n\nBuild failed. To recheck use 'dell: recheck'. For 3rd party ci "
            "contact info: https://wiki.openstack.org/wiki/ThirdPartySystems/Dell_EMC_CI\n\n"
            "* dell-hw13G-tempest-dsvm-ironic-idrac http://ci.example/logs/12/3/1/ : FAILURE "
            "deploy timed out\n"
            "* dell-unit http://ci.example/logs/12/3/2/ : SUCCESS\n"
        )

        parsed = parse_ci_message(text)

        assert parsed.result == "FAILURE"
        assert parsed.wiki_links == (
            "https://wiki.openstack.org/wiki/ThirdPartySystems/Dell_EMC_CI",
        )
        assert parsed.jobs[0].comment == "deploy timed out"
        assert parsed.jobs[1] == JobResult("dell-unit", "http://ci.example/logs/12/3/2/", "SUCCESS")

    def test_jenkins_gerrit_trigger_default_and_custom_messages(self) -> None:
        default = parse_ci_message(
            "Patch Set 9:\n\nBuild Successful \n\n"
            "https://jenkins.example.com/job/ilo-tempest/412/ : SUCCESS"
        )
        custom = parse_ci_message(
            "Patch Set 9:\n\nBuild Unstable \n\n* ilo-tempest http://jenkins/job/ilo/4/ : UNSTABLE"
        )
        started = parse_ci_message(
            "Patch Set 9:\n\nBuild Started https://jenkins.example.com/job/ilo-tempest/413/"
        )

        assert default.result == "SUCCESS"
        assert default.jobs == (
            JobResult("ilo-tempest", "https://jenkins.example.com/job/ilo-tempest/412/", "SUCCESS"),
        )
        assert (custom.result, custom.jobs[0].result) == ("FAILURE", "UNSTABLE")
        assert started.kind == "start"

    def test_markdown_wrapped_job_lines(self) -> None:
        text = (
            "Build succeeded.\n\n"
            "  * [xclarity-tempest](https://logs.example/1) : **SUCCESS** in 45s\n"
            "  - `xclarity-unit` <https://logs.example/2> : Success (non-voting)\n"
        )

        jobs = parse_ci_message(text).jobs

        assert jobs == (
            JobResult("xclarity-tempest", "https://logs.example/1", "SUCCESS", 45),
            JobResult("xclarity-unit", "https://logs.example/2", "Success", None, True),
        )

    def test_the_cis_own_patterns_pick_its_driver_job_when_no_status_line_says(self) -> None:
        # Dell's DriverLog entry: only its pxe_drac job tells whether the driver works.
        success = r"dell-hw.*-tempest-dsvm-ironic-pxe_drac \S+ : SUCCESS"
        failure = r"dell-hw.*-tempest-dsvm-ironic-pxe_drac \S+ : FAILURE"
        jobs = (
            "* dell-hw13G-tempest-dsvm-ironic-pxe_drac http://ci/1 : SUCCESS in 1h 00m 00s\n"
            "* dell-hw13G-other http://ci/2 : FAILURE\n"
        )

        by_pattern = parse_ci_message(
            f"Patch Set 2:\n\n{jobs}", success_pattern=success, failure_pattern=failure
        )
        stated = parse_ci_message(
            f"Patch Set 2:\n\nBuild failed.\n\n{jobs}",
            success_pattern=success,
            failure_pattern=failure,
        )

        assert (by_pattern.result, by_pattern.result_source) == ("SUCCESS", "pattern")
        # The explicit "Build failed." is what the CI said: no pattern overrides it.
        assert (stated.result, stated.result_source) == ("FAILURE", "header")
        assert len(stated.jobs) == 2

    def test_a_free_text_ci_is_read_by_its_patterns_alone(self) -> None:
        text = "Patch Set 4:\n\nBrocade ML2: FAIL - see http://brocade.example/ci/4"

        parsed = parse_ci_message(
            text, success_pattern="Brocade ML2: SUCCESS", failure_pattern="Brocade ML2: FAIL"
        )
        unread = parse_ci_message(text)

        assert (parsed.result, parsed.is_parseable) == ("FAILURE", True)
        assert (unread.kind, unread.result, unread.is_parseable) == ("result", "UNKNOWN", False)

    def test_a_report_with_only_a_vote_takes_the_vote(self) -> None:
        parsed = parse_ci_message("Patch Set 3: Verified+1\n\nAll good, logs at http://x/3")

        assert (parsed.result, parsed.result_source, parsed.kind) == ("SUCCESS", "vote", "result")

    def test_chatter_from_a_ci_is_other_and_not_unparseable(self) -> None:
        parsed = parse_ci_message("Patch Set 3:\n\nThis CI will be down for maintenance today.")

        assert (parsed.kind, parsed.is_parseable) == ("other", True)

    def test_an_invalid_pattern_is_a_config_error_naming_it(self) -> None:
        with pytest.raises(ConfigError, match=r"Build \(Failed"):
            compile_ci_pattern("Build (Failed")


class TestHeaderVotes:
    @pytest.mark.parametrize(
        ("text", "patch_set", "votes"),
        [
            ("Patch Set 3: Verified+1", 3, {"Verified": 1}),
            ("Patch Set 3: -Verified", 3, {"Verified": 0}),
            ("Patch Set 3: Verified-1 Code-Review+2", 3, {"Verified": -1, "Code-Review": 2}),
            ("Patch Set 12:\n\nBuild failed.", 12, {}),
            ("Patch Set 1: Fails", 1, {"Verified": -1}),
            (
                "Patch Set 1: Looks good to me, approved; Verified",
                1,
                {"Code-Review": 2, "Verified": 1},
            ),
            ("Uploaded patch set 2.", None, {}),
        ],
    )
    def test_patch_set_and_votes(
        self, text: str, patch_set: int | None, votes: dict[str, int]
    ) -> None:
        parsed = parse_ci_message(text)

        assert (parsed.patch_set, parsed.votes) == (patch_set, votes)


class TestRecheck:
    @pytest.mark.parametrize(
        "text",
        [
            "recheck",
            "Patch Set 3:\n\nrecheck",
            "Patch Set 3: Code-Review+1\n\nrecheck grenade timed out on the mirror",
            "recheck bug 1526410",
            "recheck no bug",
            "reverify",
            "RECHECK",
        ],
    )
    def test_plain_recheck_asks_every_system(self, text: str) -> None:
        assert is_recheck(text) == RecheckRequest(all_systems=True)

    def test_namespaced_and_cinder_style_ask_one_ci(self) -> None:
        names = ["Dell EMC CI", "dell"]

        assert is_recheck("Patch Set 3:\n\ndell: recheck", names) == RecheckRequest(False, "dell")
        assert is_recheck("run-Dell-EMC-CI", names) == RecheckRequest(False, "Dell EMC CI")
        assert is_recheck("hpe: recheck", names) is None
        assert is_recheck("hpe: recheck") == RecheckRequest(False, "hpe")

    @pytest.mark.parametrize(
        "text",
        ["Please do not recheck blindly", "rechecking now", "Patch Set 3: Code-Review+2", ""],
    )
    def test_prose_mentioning_recheck_is_not_a_request(self, text: str) -> None:
        assert is_recheck(text) is None

    def test_a_recheck_posted_by_a_ci_is_kind_recheck(self) -> None:
        assert parse_ci_message("Patch Set 2:\n\nrecheck").kind == "recheck"


FUJITSU = CiIdentity(
    "Fujitsu_iRMC_CI", 13264, "Fujitsu iRMC CI", ("Build succeeded",), ("Build failed",)
)
DELL = CiIdentity(
    "openstack-ironic-ci", 8217, "Dell EMC Ironic third-party CI", aliases=("dell-sb",)
)


class TestAttribution:
    def test_username_then_account_id_then_display_name(self) -> None:
        identities = [FUJITSU, DELL]

        assert attribute_author({"username": "Fujitsu_iRMC_CI"}, identities) is FUJITSU
        assert attribute_author({"_account_id": 8217, "name": "Someone"}, identities) is DELL
        assert attribute_author({"account_id": "13264"}, identities) is FUJITSU
        assert attribute_author({"name": "fujitsu irmc ci"}, identities) is FUJITSU
        assert attribute_author({"username": "dell-sb"}, identities) is DELL
        assert attribute_author({"username": "jdoe", "name": "Jane Doe"}, identities) is None

    def test_username_wins_over_a_conflicting_account_id(self) -> None:
        author = {"username": "openstack-ironic-ci", "_account_id": 13264}

        assert CiAttributor([FUJITSU, DELL]).attribute(author) is DELL

    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            ("IBM DB2 CI", True),
            ("Jenkins", True),
            ("Zuul", True),
            ("ibm-xcat-ci", True),
            ("Fujitsu_iRMC_CI", True),
            ("Release Bot", True),
            ("Ciaran Smith", False),
            ("Jane Doe", False),
        ],
    )
    def test_looks_like_ci_flags_unregistered_ci_accounts(self, name: str, expected: bool) -> None:
        assert looks_like_ci(name) is expected
