"""What the judge produces: the report, milestones and voting, deprecation documents."""
