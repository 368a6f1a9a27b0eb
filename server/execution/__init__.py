"""The execution layer of the server: where a request's computation runs, and how it is stopped.

The data path, in the order a request takes it:

    request -> price -> queue -> worker -> plan -> encode
    servicer.py   (decode, `Engine.prepare` prices it, `Limits.admit` or RESOURCE_EXHAUSTED)
              queue.py  (bounded, fair between clients; UNAVAILABLE when full)
                      pool.py + worker.py  (a compute process runs the plans; deadlines kill it)
                               shm.py  (tensors cross in shared memory, not pickled copies)
                                            calls.py  (the result becomes the response)

With `--compute-workers 0` the gRPC threads run the plans themselves (in-thread mode, for
debugging): same results, bit for bit, but a deadline is then only noticed between nodes.
"""
