"""LLVM-level helpers for the convolution kernels: a fused multiply-add and two vectorisation hints.

``fma(a, b, c) = a * b + c`` with a single rounding where the CPU has FMA.
Numba compiles ``a * b + c`` as a multiply and an add (fused only under
fastmath, which the project keeps off), so a convolution's inner loop would
issue twice the floating-point instructions it needs. ``llvm.fmuladd`` is the
operation LLVM defines for exactly this: fused when the target has FMA
instructions, a plain multiply-add otherwise. Unlike fastmath it licenses
nothing else (no reassociation, no NaN assumptions) and it is deterministic on
a given machine, so serial and parallel paths stay bitwise comparable. All
three arguments must share one float type: a float64 literal in a float32
kernel is a typing error here instead of a silent promotion.

``wide_vectors()`` compiles to nothing; it marks the function it is called
in with ``"prefer-vector-width"="512"``. LLVM's tuning for server CPUs with
AVX-512 (Skylake-SP, Cascade Lake, ...) prefers 256-bit vectors, which halves
the lanes per instruction of the long multiply-add loops; measured on such a
CPU, 512-bit loops made the convolution phases about 15-20% faster. The
hint changes only the vector width, not the order of any element's
operations, so results are bitwise the same; CPUs without AVX-512 ignore it.
(llvmlite's attribute list only accepts attribute names it knows, so the
string attribute is added to the underlying set directly; if that ever stops
working the hint is skipped and the code stays 256-bit.)

``keep_scalar()`` compiles to nothing, but LLVM must assume it has a side
effect, so it cannot vectorise a loop that calls it. The layout loops
(transposes, strided copies) move little data, yet on AVX-512 machines LLVM
turns their strided stores into scatter sequences several times longer than
the loop; since Numba re-optimises a callee inside every caller (and a
``prange`` kernel is compiled at two levels), that code dominated compile time.

With ``NUMBA_DISABLE_JIT=1`` all three run as plain Python. Numba's on-disk cache
does not notice edits to this file in kernels that call these helpers from
other files: clear ``kernels/__pycache__`` after changing it.
"""
from llvmlite import ir
from numba.core import config, types
from numba.extending import intrinsic

__all__ = ["fma", "keep_scalar", "wide_vectors"]


def _fma_python(a, b, c):
    """a * b + c (fused in compiled code on CPUs with FMA)."""
    return a * b + c


def _no_op():
    pass


@intrinsic
def _fmuladd(typingctx, a, b, c):
    if not (isinstance(a, types.Float) and a == b == c):
        return None

    def codegen(context, builder, signature, args):
        ty = args[0].type
        fn = builder.module.declare_intrinsic("llvm.fmuladd", [ty], ir.FunctionType(ty, [ty, ty, ty]))
        return builder.call(fn, args)

    return a(a, b, c), codegen


@intrinsic
def _opaque_side_effect(typingctx):
    def codegen(context, builder, signature, args):
        # An empty inline-asm statement: no instructions, no memory clobber,
        # but "side effect" forbids LLVM to drop, duplicate across lanes or
        # vectorise it.
        builder.asm(ir.FunctionType(ir.VoidType(), []), "", "", [], side_effect=True)
        return context.get_dummy_value()

    return types.none(), codegen


@intrinsic
def _prefer_512_bit(typingctx):
    def codegen(context, builder, signature, args):
        # builder.function is the kernel being compiled: the intrinsic is
        # expanded inline, so the attribute lands on the caller.
        attributes = builder.function.attributes
        try:
            for attribute in ('"prefer-vector-width"="512"', '"min-legal-vector-width"="512"'):
                set.add(attributes, attribute)
        except TypeError:  # llvmlite's attribute set changed shape: keep the default width
            pass
        return context.get_dummy_value()

    return types.none(), codegen


# Compiled kernels call the intrinsics themselves (an intrinsic is expanded in
# its caller, which wide_vectors relies on); with NUMBA_DISABLE_JIT=1 the
# kernels run as Python and get the plain functions.
if config.DISABLE_JIT:
    fma, keep_scalar, wide_vectors = _fma_python, _no_op, _no_op
else:
    fma, keep_scalar, wide_vectors = _fmuladd, _opaque_side_effect, _prefer_512_bit
