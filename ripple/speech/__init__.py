"""Speech to text for `ripple transcribe`: packaged whisper weights, audio decoding, backends."""
