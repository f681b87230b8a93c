"""What the models are asked and how answers are checked without a human: prompt sets, generated
haystacks, automatic checks."""
