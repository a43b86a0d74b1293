"""The bot's Home tab: what the person opening it needs now, across every domain."""
