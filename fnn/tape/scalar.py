"""A scalar that records the computation graph: reverse-mode autodiff in one screen.

The teaching view of the tape. Each :class:`Value` remembers its inputs and
the local derivative of itself with respect to each of them, so the chain rule
is one line in :meth:`Value.backward`: ``parent.grad += local * node.grad``,
visiting nodes from the output back to the inputs.

    >>> x, y, z = Value(2.0), Value(-3.0), Value(10.0)
    >>> f = x * y + z
    >>> f.backward()
    >>> x.grad, y.grad, z.grad
    (-3.0, 2.0, 1.0)
"""
import math
import numbers

__all__ = ["Value"]


def _as_value(other):
    if isinstance(other, Value):
        return other
    if isinstance(other, numbers.Real) and not isinstance(other, bool):
        return Value(other)
    return None


def _real_power(a, b):
    """a**b as a float: NaN where the real power is undefined, inf where it overflows."""
    try:
        out = a ** b
    except ZeroDivisionError:
        return math.inf
    except OverflowError:
        return math.inf
    return out if isinstance(out, float) else (float(out) if isinstance(out, int) else math.nan)


def _log(a):
    if a > 0:
        return math.log(a)
    return -math.inf if a == 0 else math.nan


class Value:
    """A scalar ``data`` with a gradient slot ``grad``; arithmetic on it builds a graph.

    Supports ``+ - * / **`` with a Value or a number on either side, unary
    minus, and the methods :meth:`exp`, :meth:`log`, :meth:`tanh`,
    :meth:`sigmoid`, :meth:`relu`.
    """

    __slots__ = ("data", "grad", "op", "_parents", "_local_grads")

    def __init__(self, data, *, _parents=(), _local_grads=(), op=""):
        if isinstance(data, bool) or not isinstance(data, numbers.Real):
            raise ValueError(f"data has type {type(data).__name__}; expected a real number (int or float)")
        self.data = float(data)
        self.grad = 0.0
        self.op = op
        self._parents = _parents          # the Values this one was computed from
        self._local_grads = _local_grads  # d self / d parent, one per parent

    def __repr__(self):
        op = f", op={self.op!r}" if self.op else ""
        return f"Value(data={self.data:.6g}, grad={self.grad:.6g}{op})"

    # ------------------------------------------------------------ arithmetic

    def __add__(self, other):
        other = _as_value(other)
        if other is None:
            return NotImplemented
        return Value(self.data + other.data, _parents=(self, other), _local_grads=(1.0, 1.0), op="+")

    def __mul__(self, other):
        other = _as_value(other)
        if other is None:
            return NotImplemented
        return Value(self.data * other.data, _parents=(self, other),
                     _local_grads=(other.data, self.data), op="*")

    def __truediv__(self, other):
        other = _as_value(other)
        if other is None:
            return NotImplemented
        a, b = self.data, other.data
        if b == 0.0:
            out = math.copysign(math.inf, a) if a != 0.0 else math.nan
            return Value(out, _parents=(self, other), _local_grads=(math.inf, math.nan), op="/")
        # d(a/b)/da = 1/b,  d(a/b)/db = -a/b^2
        return Value(a / b, _parents=(self, other), _local_grads=(1.0 / b, -a / (b * b)), op="/")

    def __pow__(self, other):
        other = _as_value(other)
        if other is None:
            return NotImplemented
        a, b = self.data, other.data
        out = _real_power(a, b)
        # d(a^b)/da = b a^(b-1);  d(a^b)/db = a^b log a: NaN for a < 0 (no real log),
        # 0 at a == 0 (the limit of a^b log a for b > 0).
        d_base = b * _real_power(a, b - 1) if b != 0.0 else 0.0
        d_exponent = 0.0 if a == 0.0 else out * _log(a)
        return Value(out, _parents=(self, other), _local_grads=(d_base, d_exponent), op="**")

    def __neg__(self):
        return Value(-self.data, _parents=(self,), _local_grads=(-1.0,), op="neg")

    def __sub__(self, other):
        other = _as_value(other)
        if other is None:
            return NotImplemented
        return Value(self.data - other.data, _parents=(self, other), _local_grads=(1.0, -1.0), op="-")

    def __radd__(self, other):
        return self + other

    def __rmul__(self, other):
        return self * other

    def __rsub__(self, other):
        other = _as_value(other)
        return NotImplemented if other is None else other - self

    def __rtruediv__(self, other):
        other = _as_value(other)
        return NotImplemented if other is None else other / self

    def __rpow__(self, other):
        other = _as_value(other)
        return NotImplemented if other is None else other ** self

    # ------------------------------------------------------------ functions

    def exp(self):
        try:
            out = math.exp(self.data)
        except OverflowError:
            out = math.inf
        return Value(out, _parents=(self,), _local_grads=(out,), op="exp")

    def log(self):
        x = self.data
        return Value(_log(x), _parents=(self,), _local_grads=(1.0 / x if x != 0.0 else math.inf,), op="log")

    def tanh(self):
        t = math.tanh(self.data)
        return Value(t, _parents=(self,), _local_grads=(1.0 - t * t,), op="tanh")

    def sigmoid(self):
        x = self.data
        # Two branches so exp never overflows.
        s = 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
        return Value(s, _parents=(self,), _local_grads=(s * (1.0 - s),), op="sigmoid")

    def relu(self):
        x = self.data
        return Value(max(x, 0.0), _parents=(self,), _local_grads=(1.0 if x > 0 else 0.0,), op="relu")

    # ------------------------------------------------------------ reverse pass

    def _topological_order(self):
        """Every node reachable from self, each after all of its parents (iterative DFS)."""
        order, visited = [], set()
        stack = [(self, False)]
        while stack:
            node, parents_done = stack.pop()
            if parents_done:
                order.append(node)
                continue
            if id(node) in visited:
                continue
            visited.add(id(node))
            stack.append((node, True))
            for p in node._parents:
                if id(p) not in visited:
                    stack.append((p, False))
        return order

    def backward(self):
        """Set ``.grad`` of every node reachable from self to d self / d node.

        Grads are reset first, so calling backward twice gives the same result.
        """
        order = self._topological_order()
        for node in order:
            node.grad = 0.0
        self.grad = 1.0
        for node in reversed(order):
            for parent, local in zip(node._parents, node._local_grads):
                parent.grad += local * node.grad
