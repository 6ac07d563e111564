"""Zone agents on Celery and RabbitMQ: the central side and the agents inside zones."""
