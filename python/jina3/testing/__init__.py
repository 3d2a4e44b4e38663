"""Test support for jina3: random checkpoints in the real Hugging Face layout (make_checkpoint),
locating shared data, the literal reference of Jina's encode() (reference) and the generated test
data set (testdata)."""
