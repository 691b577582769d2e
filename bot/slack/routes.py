"""The one path Slack calls: events, slash commands and interactivity all arrive at ``POST EVENTS_PATH``.

Kept apart from the Bolt app so the app manifest can name the path without building the app.
"""

EVENTS_PATH = "/slack/events"
