"""The composition root: ``Service`` builds the database, models, index and agent runtime once per process;
``start_channels`` builds Slack, the phone line, the scheduler and the background tasks around it.

Modules import one another directly; the face for other code is ``bot`` itself.
"""
