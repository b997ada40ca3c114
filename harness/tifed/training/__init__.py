"""What is trained: the training data as devices see it and the federated schedule."""
