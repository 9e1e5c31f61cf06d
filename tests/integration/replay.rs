//! Replays of real and documented SSE transcripts (filled in by the fixtures work).
