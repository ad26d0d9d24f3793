import torch

# The tests use tiny tensors, for which one thread is fastest; it also keeps a busy 2-core
# machine from stalling in OpenMP barriers (25x slower under contention, measured).
torch.set_num_threads(1)
