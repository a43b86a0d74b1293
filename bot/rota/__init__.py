"""Who is on call: the rotation (config) with the accepted overrides applied. Shared: the policy, paging,
alerts, status and App Home ask it; the on-call domain (bot/oncall) owns the commands that change it."""
