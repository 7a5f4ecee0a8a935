"""A small synthetic speech corpus generated with eSpeak NG."""
