"""Notifications: deployments started, succeeded, failed or waiting for approval are
announced to signed JSON webhooks, Slack-compatible incoming webhooks and email, by
Celery tasks that never hold up a deployment. See docs/notifications.md."""
