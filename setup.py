"""What pyproject.toml cannot say: the migrations live at the top of the checkout (migrations/, as the design card
lays them out) and ship inside the package as `bot.migrations`, where bot/migrate.py reads them. Every other
setting is in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["bot", "bot.*"]), "bot.migrations"],
    package_dir={"bot.migrations": "migrations"},
    # Every *.sql in migrations/, whatever its number: nothing to list when one is added.
    package_data={"bot": ["default.yml"], "bot.migrations": ["*.sql"]},
)
