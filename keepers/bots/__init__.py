"""Silverback bots wiring the keeper jobs to new blocks and cron (`keepers.bots.keeper:bot`).

Nothing is imported here: importing a bot module creates its `SilverbackBot`, which connects
to the network Silverback was started on.
"""
