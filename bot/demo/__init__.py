"""`zzik-bot demo`: the whole bot in a browser, without a Slack workspace (bot/demo/run.py). Not a domain: the real
bot runs unchanged against a Slack stand-in (standin.py, on bot/fakeslack.py) whose page (page.py) shows what each
demo person would see in Slack and sends the bot what Slack would send (wire.py)."""
