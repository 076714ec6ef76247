"""The table of proofs: one :class:`Proof` per property, run by ``make formal`` and pytest.

A new unit needs one spec function (in a ``spec_*.py`` module beside this one, with its broken
variant) and one entry here.
"""

from . import spec_shared, spec_sparse, spec_systolic
from .harness import Proof

__all__ = ["PROOFS", "SLOW_PROOFS"]

_MEMORY = ("the unit keeps state in a memory whose rows Amaranth 0.5 cannot name in a property "
           "(rows are simulator-only), so no invariant can tie it to the model, which induction "
           "needs")
_ARRAY = ("the array's state (memories of every PE, counters) is too large for induction to "
          "close in minutes; the depth covers reset, the accumulator sweep and a whole layer")

_GEMM = ("the engine's state (three operand memories, the accumulator bank, the array's "
         "pipelines) is too large for induction to close in minutes; the depth covers a whole "
         "GEMM of the small configuration")

PROOFS = [
    # -- stream contracts ----------------------------------------------------------------------
    Proof("postproc_stream", "PostProcessor(acc_width=16)", "prove", 8,
          spec_shared.postproc_stream_spec,
          fail_depth=12,
          covers="o keeps valid and payload until ready, for inputs that follow the rule",
          broken="the output stage advances while o is stalled"),
    Proof("queue_stream", "ActivationQueue(depth=4)", "prove", 4,
          spec_sparse.queue_stream_spec,
          covers="o keeps valid and payload until ready",
          broken="pops its head whether or not o.ready takes it"),
    Proof("detector_stream", "NonZeroDetector(TINY)", "prove", 6,
          spec_sparse.detector_stream_spec,
          fail_depth=8,
          covers="o keeps valid and payload until ready (start only when idle)",
          broken="marks its offer sent without o.ready"),
    Proof("pointer_stream", "PointerReadUnit(TINY)", "prove", 4,
          spec_sparse.pointer_stream_spec,
          fail_depth=8,
          covers="o keeps valid and payload until ready, for any pointer writes",
          broken="the read stage overwrites a stalled span"),
    Proof("writeback_stream", "WriteBack(TINY)", "prove", 10,
          spec_sparse.writeback_stream_spec,
          fail_depth=16,
          covers="o keeps valid and payload until ready (layer fields change only at a start, "
                 "which waits for o to be taken)",
          broken="the post-processor's output is taken while o is stalled"),
    # -- conservation --------------------------------------------------------------------------
    Proof("queue_conservation", "ActivationQueue(depth=4)", "prove", 4,
          spec_sparse.queue_conservation_spec,
          fail_depth=8,
          covers="pairs in = pairs out + level: nothing lost or duplicated",
          broken="i.ready always high: a pair written into a full queue is lost"),
    Proof("postproc_conservation", "PostProcessor(acc_width=16)", "prove", 8,
          spec_shared.postproc_conservation_spec,
          fail_depth=12,
          covers="elements in = elements out + elements in the six stages",
          broken="the output stage is overwritten while stalled (an element is lost)"),
    Proof("detector_order", "NonZeroDetector(TINY)", "bmc", 16,
          spec_sparse.detector_order_spec,
          covers="non-zeros leave once each, in increasing column order, below cols",
          broken="forgets which non-zeros it sent (one leaves twice)",
          why_bounded="induction needs an invariant tying the spec's last column to the "
                      "detector's group base and sent mask, which is not written yet"),
    Proof("array_broadcast", "SparseArray(TINY)", "prove", 2,
          spec_sparse.array_broadcast_spec,
          fail_depth=10,
          covers="every non-zero sent enters every PE's queue exactly once, also when a queue "
                 "is full",
          broken="the last PE's queue is never offered the broadcast"),
    # -- hang-freedom and errors -----------------------------------------------------------------
    Proof("array_errors", "SparseArray(TINY)", "prove", 2,
          spec_sparse.array_errors_spec,
          fail_depth=6,
          covers="a bad write or RUN sets its sticky bit, is skipped, and the array stays ready; "
                 "error bits stay set until STATS",
          broken="a RUN that does not fit starts all the same"),
    # -- hazards -------------------------------------------------------------------------------
    Proof("arith_forwarding", "ArithmeticUnit(TINY_ARITH)", "bmc", 10,
          spec_sparse.arith_forwarding_spec,
          covers="accumulators written back = a model that applies each entry at once "
                 "(any codes, rows and hazards)",
          broken="the two-cycle bypass is gone (the stale read wins)",
          why_bounded=_MEMORY),
    Proof("gemm_bank", "SystolicGemm(TINY_N3)", "bmc", 24,
          spec_systolic.gemm_bank_spec,
          covers="the drain never reads a bank half while an entry of it is being written",
          broken="the drain's release is ignored (both halves always free)",
          why_bounded=_GEMM),
    Proof("gemm_weights", "SystolicGemm(TINY3)", "bmc", 20,
          spec_systolic.gemm_weights_spec,
          covers="the weight double buffer swaps only a whole tile, and no shift follows a "
                 "swap until its token has reached the last row",
          broken="the next tile shifts in right after a swap",
          why_bounded=_GEMM),
    Proof("gemm_progress", "SystolicGemm(TINY)", "bmc", 32,
          spec_systolic.gemm_progress_spec,
          covers="any command, bad ones too, ends within the golden model's longest GEMM "
                 "(28 cycles), streams never waiting",
          broken="results handed over are not counted out (busy never falls)",
          why_bounded=_GEMM),
    # -- covers --------------------------------------------------------------------------------
    Proof("queue_full", "ActivationQueue(depth=4)", "cover", 8,
          spec_sparse.queue_full_cover_spec,
          covers="a full queue; a pair taken right after the queue was full",
          broken="pops unasked, so it never fills"),
]

#: Proofs that take minutes each on the whole sparse array (measured: array_stream 138 s and its
#: broken variant 123 s on a loaded 2-core machine): ``python -m tests.formal --slow`` runs
#: them with the others; pytest and ``make formal`` leave them out to stay within 3 minutes.
SLOW_PROOFS = [
    Proof("array_stream", "SparseArray(TINY)", "bmc", 18,
          spec_sparse.array_stream_spec,
          fail_depth=18,
          covers="o keeps valid and payload until ready (STATS words and a layer's first "
                 "outputs)",
          broken="the gather moves past a PE whose output o did not take",
          why_bounded="induction stops at states where a PE counts its write-back done while "
                      "an output still waits, unreachable but excluded only by invariants "
                      "inside every PE; 18 steps reach the first output of a layer stalled"),
    Proof("array_cover", "SparseArray(TINY)", "cover", 16,
          spec_sparse.array_cover_spec,
          covers="each error bit; a full queue inside the array; a layer that ends",
          broken="write-back never ends"),
]
