"""The token ids `conan bench` feeds its model (the 64-bit LCG of crates/conan-cli/src/bench.rs,
same seed), for the peer benchmarks that must run the same ids."""


def lcg_ids(batch, seq, vocab):
    """`batch * seq` ids, row-major, each below `vocab`."""
    state, mask, out = 0x2545F4914F6CDD1D, (1 << 64) - 1, []
    for _ in range(batch * seq):
        state = (state * 6364136223846793005 + 1442695040888963407) & mask
        out.append((state >> 33) % vocab)
    return out
