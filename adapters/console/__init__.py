"""Console chat: stdin/stdout as a private chat, for local use, the demo and end-to-end tests."""
