"""The model zoo: registered parts (front end, embeddings, encoders, decoder, heads) and whole-model presets."""
