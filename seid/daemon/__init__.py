"""The long-running watcher: fs events -> settled change sets -> the run chain."""
