"""The runtime: a study's trials run by worker processes on one machine or many.

Preparing a run (:mod:`runner`), the queue of waiting trials (:mod:`trial_queue`), a
worker's loop of claim, run and tell (:mod:`worker`), heartbeats and the takeover of a dead
worker's trial (:mod:`heartbeat`), local worker processes from a fork server
(:mod:`local_workers`, :mod:`fork_server`), preemption by SIGTERM or Ctrl-C, progress, and
what a run did (:mod:`outcome`). Modules are imported by name; this package's import is
free.
"""
