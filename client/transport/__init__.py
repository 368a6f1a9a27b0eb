"""How calls travel: graphs and tensors as protobufs (`wire`), calls as requests (`codec`),
the in-process (`local`) and gRPC (`remote`) transports."""
