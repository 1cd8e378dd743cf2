"""The streaming shell: the detection core run as a Faust application over Kafka.

Pure parts (no Faust import) sit beside the Faust app so that they can be tested alone:
:mod:`.engine` (what a worker does with a batch of messages), :mod:`.merge` (event-time
order across the two input topics), :mod:`.deadletter` and :mod:`.rulesync`.
"""
