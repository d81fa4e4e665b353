"""Applications. A module here may define `add_commands(sub)` to add its CLI verbs (found automatically)."""
