"""The public status page, what is published to it from an incident channel, and the stakeholders' posts."""
