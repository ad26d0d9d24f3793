import torch

# Tiny tensors run fastest on one thread, and a busy CI machine does not stall in OpenMP barriers.
torch.set_num_threads(1)
