using static TorchSharp.torch;

namespace TorchSharp.Binding.Tests;

/// Tensor arithmetic, element-wise functions, reductions, comparisons, conversions and operators, each
/// checked against the definition computed here element by element.
[Collection("libtorch")]
public class TensorOpsTests
{
    static readonly double[] A = { 1.5, -2.0, 3.25, 0.5, -0.75, 4.0 };
    static readonly double[] B = { 0.5, 4.0, -1.25, 2.0, 3.0, -0.5 };

    static Tensor T(double[] v, params long[] shape) => tensor(v, shape.Length == 0 ? new long[] { v.Length } : shape);
    static Tensor Ta => T(A, 2, 3);
    static Tensor Tb => T(B, 2, 3);

    static double[] V(Tensor t) => t.data<double>().ToArray();
    static long[] L(Tensor t) => t.data<long>().ToArray();
    static bool[] Bools(Tensor t) => t.data<bool>().ToArray();

    static double[] Map(Func<double, double> f, double[] x) => x.Select(f).ToArray();
    static double[] Zip(Func<double, double, double> f) => A.Zip(B, f).ToArray();

    static void Near(double[] actual, double[] expected, double tol = 1e-12)
    {
        actual.Should().HaveCount(expected.Length);
        for (int i = 0; i < expected.Length; i++) {
            if (double.IsNaN(expected[i])) double.IsNaN(actual[i]).Should().BeTrue($"element {i}");
            else actual[i].Should().BeApproximately(expected[i], tol, $"element {i}");
        }
    }

    // ---- arithmetic ----------------------------------------------------------------------------

    [Fact]
    public void AddSubMulDivByTensorAndScalar()
    {
        V(Ta.add(Tb)).Should().Equal(Zip((a, b) => a + b));
        V(Ta.add(Tb, 2)).Should().Equal(Zip((a, b) => a + 2 * b));
        V(Ta.add(1.5)).Should().Equal(Map(a => a + 1.5, A));
        V(Ta.add(1.5, 2)).Should().Equal(Map(a => a + 3.0, A));
        V(Ta.sub(Tb)).Should().Equal(Zip((a, b) => a - b));
        V(Ta.sub(0.5)).Should().Equal(Map(a => a - 0.5, A));
        V(Ta.mul(Tb)).Should().Equal(Zip((a, b) => a * b));
        V(Ta.mul(-2)).Should().Equal(Map(a => a * -2, A));
        V(Ta.div(Tb)).Should().Equal(Zip((a, b) => a / b));
        V(Ta.div(4)).Should().Equal(Map(a => a / 4, A));
        V(Ta.remainder(Tb)).Should().Equal(Zip((a, b) => a - Math.Floor(a / b) * b));   // Python-style: sign of the divisor
        V(Ta.remainder(1.5)).Should().Equal(Map(a => a - Math.Floor(a / 1.5) * 1.5, A));
    }

    [Fact]
    public void DivisionRoundingModes()
    {
        V(Ta.div(Tb, RoundingMode.trunc)).Should().Equal(Zip((a, b) => Math.Truncate(a / b)));
        V(Ta.div(Tb, RoundingMode.floor)).Should().Equal(Zip((a, b) => Math.Floor(a / b)));
        V(Ta.div(0.7, RoundingMode.trunc)).Should().Equal(Map(a => Math.Truncate(a / 0.7), A));
        V(Ta.div(0.7, RoundingMode.floor)).Should().Equal(Map(a => Math.Floor(a / 0.7), A));
        V(Ta.div_(Tb, RoundingMode.floor)).Should().Equal(Zip((a, b) => Math.Floor(a / b)));
        V(Ta.div_(Tb, RoundingMode.trunc)).Should().Equal(Zip((a, b) => Math.Truncate(a / b)));
        V(Ta.div_(0.7, RoundingMode.floor)).Should().Equal(Map(a => Math.Floor(a / 0.7), A));
        V(Ta.div_(0.7, RoundingMode.trunc)).Should().Equal(Map(a => Math.Truncate(a / 0.7), A));
        V(Ta.div_(Tb)).Should().Equal(Zip((a, b) => a / b));
        V(Ta.div_(4.0)).Should().Equal(Map(a => a / 4, A));
        var ints = tensor(new long[] { 7, -7 });
        L(ints.div(2, RoundingMode.trunc)).Should().Equal(3, -3);
        L(ints.div(2, RoundingMode.floor)).Should().Equal(3, -4);
        ints.div(2).data<float>().ToArray().Should().Equal(3.5f, -3.5f);   // true division promotes to floating point
    }

    [Fact]
    public void InPlaceArithmeticModifiesTheTensorAndReturnsIt()
    {
        var x = Ta;
        x.add_(Tb).Should().BeSameAs(x);
        V(x).Should().Equal(Zip((a, b) => a + b));
        x = Ta; x.add_(Tb, 3); V(x).Should().Equal(Zip((a, b) => a + 3 * b));
        x = Ta; x.add_(2.5); V(x).Should().Equal(Map(a => a + 2.5, A));
        x = Ta; x.sub_(Tb).Should().BeSameAs(x); V(x).Should().Equal(Zip((a, b) => a - b));
        x = Ta; x.sub_(1); V(x).Should().Equal(Map(a => a - 1, A));
        x = Ta; x.mul_(Tb).Should().BeSameAs(x); V(x).Should().Equal(Zip((a, b) => a * b));
        x = Ta; x.mul_(0.5); V(x).Should().Equal(Map(a => a * 0.5, A));
        x = Ta; x.div_(Tb).Should().BeSameAs(x); V(x).Should().Equal(Zip((a, b) => a / b));
    }

    [Fact]
    public void AddcmulAddcdivAndLerp()
    {
        var c = T(new[] { 1.0, 2, 3, 4, 5, 6 }, 2, 3);
        var x = c.clone();
        x.addcmul_(Ta, Tb, 0.5).Should().BeSameAs(x);
        V(x).Should().Equal(Enumerable.Range(0, 6).Select(i => (i + 1) + 0.5 * A[i] * B[i]));
        x = c.clone();
        x.addcdiv_(Ta, Tb, -2).Should().BeSameAs(x);
        Near(V(x), Enumerable.Range(0, 6).Select(i => (i + 1) - 2 * A[i] / B[i]).ToArray());
        x = c.clone();
        x.lerp_(Ta, 0.25).Should().BeSameAs(x);
        Near(V(x), Enumerable.Range(0, 6).Select(i => (i + 1) + 0.25 * (A[i] - (i + 1))).ToArray());
    }

    [Fact]
    public void ElementWiseFunctions()
    {
        var pos = T(new[] { 0.25, 1.0, 2.0, 9.0 });
        V(Ta.neg()).Should().Equal(Map(a => -a, A));
        V(Ta.negative()).Should().Equal(Map(a => -a, A));
        V(Ta.reciprocal()).Should().Equal(Map(a => 1 / a, A));
        V(Ta.abs()).Should().Equal(Map(Math.Abs, A));
        V(pos.sqrt()).Should().Equal(0.5, 1, Math.Sqrt(2), 3);
        var s = pos.clone();
        s.sqrt_().Should().BeSameAs(s);
        V(s).Should().Equal(0.5, 1, Math.Sqrt(2), 3);
        Near(V(pos.rsqrt()), new[] { 2, 1, 1 / Math.Sqrt(2), 1.0 / 3 });
        V(Ta.square()).Should().Equal(Map(a => a * a, A));
        Near(V(Ta.exp()), Map(Math.Exp, A));
        Near(V(pos.log()), Map(Math.Log, new[] { 0.25, 1.0, 2.0, 9.0 }));
        V(T(new[] { -3.0, 0, 2 }).sign()).Should().Equal(-1, 0, 1);
        Near(V(T(new[] { 0.0, 0.5, -1 }).erf()), new[] { 0, 0.5204998778130465, -0.8427007929497149 }, 1e-15);
        Near(V(Ta.sin()), Map(Math.Sin, A));
        Near(V(Ta.cos()), Map(Math.Cos, A));
        Near(V(Ta.tanh()), Map(Math.Tanh, A));
        Near(V(Ta.sigmoid()), Map(a => 1 / (1 + Math.Exp(-a)), A));
        V(Ta.relu()).Should().Equal(Map(a => Math.Max(a, 0), A));
        Near(V(pos.pow(1.5)), Map(a => Math.Pow(a, 1.5), new[] { 0.25, 1.0, 2.0, 9.0 }));
        Near(V(pos.pow(T(new[] { 2.0, 3, -1, 0.5 }))), new[] { 0.0625, 1, 0.5, 3 });
    }

    [Fact]
    public void ClampingAndExtrema()
    {
        V(Ta.clamp(-1, 2)).Should().Equal(Map(a => Math.Clamp(a, -1, 2), A));
        V(Ta.clamp(min: 0)).Should().Equal(Map(a => Math.Max(a, 0), A));
        V(Ta.clamp(max: (Scalar)1)).Should().Equal(Map(a => Math.Min(a, 1), A));
        V(Ta.clip(-1, 2)).Should().Equal(Map(a => Math.Clamp(a, -1, 2), A));
        V(Ta.clamp(min: Tb)).Should().Equal(Zip(Math.Max));
        V(Ta.clamp(Tb, Tb + 1)).Should().Equal(Zip((a, b) => Math.Min(Math.Max(a, b), b + 1)));
        var x = Ta;
        x.clamp_(-1, 2).Should().BeSameAs(x);
        V(x).Should().Equal(Map(a => Math.Clamp(a, -1, 2), A));
        V(Ta.clamp_min(0.5)).Should().Equal(Map(a => Math.Max(a, 0.5), A));
        V(Ta.clamp_max(0.5)).Should().Equal(Map(a => Math.Min(a, 0.5), A));
        V(Ta.maximum(Tb)).Should().Equal(Zip(Math.Max));
        V(Ta.minimum(Tb)).Should().Equal(Zip(Math.Min));
    }

    // ---- linear algebra ---------------------------------------------------------------------------

    static double[] MatMul(double[] a, double[] b, int n, int k, int m)
    {
        var r = new double[n * m];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < m; j++)
                for (int l = 0; l < k; l++) r[i * m + j] += a[i * k + l] * b[l * m + j];
        return r;
    }

    [Fact]
    public void MatrixProducts()
    {
        var b32 = T(B, 3, 2);
        V(Ta.matmul(b32)).Should().Equal(MatMul(A, B, 2, 3, 2));
        V(Ta.mm(b32)).Should().Equal(MatMul(A, B, 2, 3, 2));
        var batchA = T(A.Concat(B).ToArray(), 2, 2, 3);
        var batchB = T(B.Concat(A).ToArray(), 2, 3, 2);
        V(batchA.bmm(batchB)).Should().Equal(MatMul(A, B, 2, 3, 2).Concat(MatMul(B, A, 2, 3, 2)));
        V(T(new[] { 1.0, 2 }).outer(T(new[] { 3.0, 4, 5 }))).Should().Equal(3, 4, 5, 6, 8, 10);
        V(T(new[] { 1.0, 2 }).diag()).Should().Equal(1, 0, 0, 2);
        V(T(new[] { 1.0, 2 }).diag(1)).Should().Equal(0, 1, 0, 0, 0, 2, 0, 0, 0);
        V(Ta.diag()).Should().Equal(A[0], A[4]);
        V(Ta.diagonal()).Should().Equal(A[0], A[4]);
        V(Ta.diagonal(1)).Should().Equal(A[1], A[5]);
        V(Ta.t()).Should().Equal(A[0], A[3], A[1], A[4], A[2], A[5]);
        Ta.t().shape.Should().Equal(3, 2);
        V(Ta.mT).Should().Equal(A[0], A[3], A[1], A[4], A[2], A[5]);
        T(A.Concat(B).ToArray(), 2, 2, 3).mT.shape.Should().Equal(2, 3, 2);
    }

    // ---- reductions ----------------------------------------------------------------------------

    [Fact]
    public void SumsAndMeans()
    {
        Ta.sum().item<double>().Should().Be(A.Sum());
        // (a literal 0 would pick sum(ScalarType? type) — 0 converts to any enum — as it does in TorchSharp)
        V(Ta.sum(0L)).Should().Equal(A[0] + A[3], A[1] + A[4], A[2] + A[5]);
        V(Ta.sum(1)).Should().Equal(A[0] + A[1] + A[2], A[3] + A[4] + A[5]);
        Ta.sum(1, keepdim: true).shape.Should().Equal(2, 1);
        Ta.sum(new long[] { 0, 1 }).item<double>().Should().Be(A.Sum());
        tensor(new long[] { 1, 2, 3 }).sum().dtype.Should().Be(ScalarType.Int64);
        tensor(new long[] { 1, 2, 3 }).sum(ScalarType.Float64).item<double>().Should().Be(6.0);
        tensor(new long[] { 1, 2, 3 }).sum(0, type: ScalarType.Float32).dtype.Should().Be(ScalarType.Float32);
        Ta.mean().item<double>().Should().BeApproximately(A.Average(), 1e-15);
        Near(V(Ta.mean(new long[] { 1 })), new[] { A.Take(3).Average(), A.Skip(3).Average() });
        Ta.mean(new long[] { 0 }, keepdim: true).shape.Should().Equal(1, 3);
        tensor(new long[] { 1, 2 }).mean(new long[] { 0 }, type: ScalarType.Float64).item<double>().Should().Be(1.5);
        Ta.prod().item<double>().Should().Be(A.Aggregate(1.0, (p, a) => p * a));
        tensor(new long[] { 2, 3 }).prod(ScalarType.Float64).item<double>().Should().Be(6);
        V(T(new[] { 1.0, 2, 3, 4 }).cumsum(0)).Should().Equal(1, 3, 6, 10);
        V(Ta.cumsum(1)).Should().Equal(A[0], A[0] + A[1], A[0] + A[1] + A[2], A[3], A[3] + A[4], A[3] + A[4] + A[5]);
        tensor(new long[] { 1, 2 }).cumsum(0, ScalarType.Float64).dtype.Should().Be(ScalarType.Float64);
    }

    [Fact]
    public void VarianceStdAndNorms()
    {
        double mean = A.Average();
        double ss = A.Sum(a => (a - mean) * (a - mean));
        Ta.var().item<double>().Should().BeApproximately(ss / 5, 1e-12);
        Ta.var(unbiased: false).item<double>().Should().BeApproximately(ss / 6, 1e-12);
        Ta.std().item<double>().Should().BeApproximately(Math.Sqrt(ss / 5), 1e-12);
        Ta.std(false).item<double>().Should().BeApproximately(Math.Sqrt(ss / 6), 1e-12);
        Ta.norm().item<double>().Should().BeApproximately(Math.Sqrt(A.Sum(a => a * a)), 1e-12);
        Ta.norm(1f).item<double>().Should().BeApproximately(A.Sum(Math.Abs), 1e-12);
        Near(V(Ta.norm(1, keepdim: false, p: 1)), new[] { A.Take(3).Sum(Math.Abs), A.Skip(3).Sum(Math.Abs) });
        Ta.norm(0, keepdim: true).shape.Should().Equal(1, 3);
        Near(V(Ta.norm(0)), new[] { Math.Sqrt(A[0] * A[0] + A[3] * A[3]), Math.Sqrt(A[1] * A[1] + A[4] * A[4]), Math.Sqrt(A[2] * A[2] + A[5] * A[5]) });
    }

    [Fact]
    public void MaxMinArgmaxArgmin()
    {
        Ta.max().item<double>().Should().Be(A.Max());
        Ta.min().item<double>().Should().Be(A.Min());
        V(Ta.max(Tb)).Should().Equal(Zip(Math.Max));
        V(Ta.min(Tb)).Should().Equal(Zip(Math.Min));
        var (vals, idx) = Ta.max(1);
        V(vals).Should().Equal(3.25, 4.0);
        L(idx).Should().Equal(2, 2);
        var (minVals, minIdx) = Ta.min(0, keepdim: true);
        minVals.shape.Should().Equal(1, 3);
        V(minVals).Should().Equal(0.5, -2.0, 3.25);
        L(minIdx).Should().Equal(1, 0, 0);
        Ta.argmax().item<long>().Should().Be(5);
        Ta.argmin().item<long>().Should().Be(1);
        L(Ta.argmax(0)).Should().Equal(0, 1, 1);
        L(Ta.argmin(1)).Should().Equal(1, 1);
        Ta.argmax(1, keepdim: true).shape.Should().Equal(2, 1);
        Ta.argmin(1, keepdim: true).shape.Should().Equal(2, 1);
    }

    [Fact]
    public void AllAndAny()
    {
        var m = tensor(new[] { true, false, true, true }, new long[] { 2, 2 });
        m.all().item<bool>().Should().BeFalse();
        m.any().item<bool>().Should().BeTrue();
        Bools(m.all(0)).Should().Equal(true, false);
        Bools(m.all(1)).Should().Equal(false, true);
        Bools(m.any(1)).Should().Equal(true, true);
        Bools(tensor(new[] { false, false }).any(0)).Should().Equal(false);
        m.all(1, keepdim: true).shape.Should().Equal(2, 1);
        m.any(0, keepdim: true).shape.Should().Equal(1, 2);
        ones(3).all().item<bool>().Should().BeTrue();
        zeros(3).any().item<bool>().Should().BeFalse();
    }

    [Fact]
    public void TopkSortArgsort()
    {
        var x = T(new[] { 3.0, 1, 4, 1.5, 9, 2.5 });
        var (v, i) = x.topk(2);
        V(v).Should().Equal(9, 4);
        L(i).Should().Equal(4, 2);
        (v, i) = x.topk(2, largest: false);
        V(v).Should().Equal(1, 1.5);
        L(i).Should().Equal(1, 3);
        (v, _) = Ta.topk(1, dim: 0);
        V(v).Should().Equal(1.5, -0.75, 4.0);
        var (sv, si) = x.sort();
        V(sv).Should().Equal(1, 1.5, 2.5, 3, 4, 9);
        L(si).Should().Equal(1, 3, 5, 0, 2, 4);
        (sv, _) = x.sort(descending: true);
        V(sv).Should().Equal(9, 4, 3, 2.5, 1.5, 1);
        var ties = T(new[] { 2.0, 1, 2, 1, 2 });
        L(ties.sort(stable: true).indices).Should().Equal(1, 3, 0, 2, 4);
        (sv, _) = Ta.sort(0);
        V(sv).Should().Equal(0.5, -2.0, 3.25, 1.5, -0.75, 4.0);
        L(x.argsort()).Should().Equal(1, 3, 5, 0, 2, 4);
        L(x.argsort(descending: true)).Should().Equal(4, 2, 0, 5, 3, 1);
        L(Ta.argsort(0)).Should().Equal(1, 0, 0, 0, 1, 1);
    }

    // ---- comparisons and logic -----------------------------------------------------------------

    [Fact]
    public void Comparisons()
    {
        Bools(Ta.eq(Tb)).Should().Equal(A.Zip(B, (a, b) => a == b));
        var c = T(new[] { 1.5, 0, 3.25, 0, 0, 4.0 }, 2, 3);
        Bools(Ta.eq(c)).Should().Equal(true, false, true, false, false, true);
        Bools(Ta.equal(c)).Should().Equal(true, false, true, false, false, true);
        Bools(Ta.ne(c)).Should().Equal(false, true, false, true, true, false);
        Bools(Ta.not_equal(c)).Should().Equal(false, true, false, true, true, false);
        Bools(Ta.eq(0.5)).Should().Equal(A.Select(a => a == 0.5));
        Bools(Ta.ne(0.5)).Should().Equal(A.Select(a => a != 0.5));
        Bools(Ta.lt(Tb)).Should().Equal(A.Zip(B, (a, b) => a < b));
        Bools(Ta.le(c)).Should().Equal(A.Zip(c.data<double>(), (a, b) => a <= b));
        Bools(Ta.gt(Tb)).Should().Equal(A.Zip(B, (a, b) => a > b));
        Bools(Ta.ge(c)).Should().Equal(A.Zip(c.data<double>(), (a, b) => a >= b));
        Bools(Ta.lt(1)).Should().Equal(A.Select(a => a < 1));
        Bools(Ta.le(0.5)).Should().Equal(A.Select(a => a <= 0.5));
        Bools(Ta.gt(1)).Should().Equal(A.Select(a => a > 1));
        Bools(Ta.ge(1.5)).Should().Equal(A.Select(a => a >= 1.5));
    }

    [Fact]
    public void Allclose()
    {
        var x = T(new[] { 1.0, 2.0 });
        x.allclose(T(new[] { 1.0 + 1e-9, 2.0 })).Should().BeTrue();
        x.allclose(T(new[] { 1.001, 2.0 })).Should().BeFalse();
        x.allclose(T(new[] { 1.001, 2.0 }), rtol: 1e-2).Should().BeTrue();
        x.allclose(T(new[] { 1.1, 2.0 }), rtol: 0, atol: 0.2).Should().BeTrue();
        var nan = T(new[] { double.NaN });
        nan.allclose(nan).Should().BeFalse();
        nan.allclose(nan, equal_nan: true).Should().BeTrue();
    }

    [Fact]
    public void FinitenessAndLogic()
    {
        var x = T(new[] { 1.0, double.NaN, double.PositiveInfinity, double.NegativeInfinity });
        Bools(x.isfinite()).Should().Equal(true, false, false, false);
        Bools(x.isnan()).Should().Equal(false, true, false, false);
        var p = tensor(new[] { true, true, false, false });
        var q = tensor(new[] { true, false, true, false });
        Bools(p.logical_not()).Should().Equal(false, false, true, true);
        Bools(p.logical_and(q)).Should().Equal(true, false, false, false);
        Bools(p.logical_or(q)).Should().Equal(true, true, true, false);
        Bools(T(new[] { 2.0, 0 }).logical_not()).Should().Equal(false, true);
        var i = tensor(new long[] { 12, 10 });
        var j = tensor(new long[] { 10, 6 });
        L(i.bitwise_and(j)).Should().Equal(12 & 10, 10 & 6);
        L(i.bitwise_or(j)).Should().Equal(12 | 10, 10 | 6);
        L(i.bitwise_xor(j)).Should().Equal(12 ^ 10, 10 ^ 6);
        L(i.bitwise_not()).Should().Equal(~12L, ~10L);
        Bools(p.bitwise_xor(q)).Should().Equal(false, true, true, false);
    }

    [Fact]
    public void MaskingAndWhere()
    {
        var mask = tensor(new[] { true, false, true, false, false, true }, new long[] { 2, 3 });
        V(Ta.masked_fill(mask, -9)).Should().Equal(-9, A[1], -9, A[3], A[4], -9);
        var x = Ta;
        x.masked_fill_(mask, 0.5).Should().BeSameAs(x);
        V(x).Should().Equal(0.5, A[1], 0.5, A[3], A[4], 0.5);
        V(Ta.masked_select(mask)).Should().Equal(A[0], A[2], A[5]);
        V(Ta.masked_fill(tensor(new[] { true, false, false }), 7)).Should().Equal(7, A[1], A[2], 7, A[4], A[5]);   // broadcast mask
        V(Ta.where(mask, Tb)).Should().Equal(A[0], B[1], A[2], B[3], B[4], A[5]);
    }

    // ---- copies, fills, conversions --------------------------------------------------------------

    [Fact]
    public void CopiesAndFills()
    {
        var x = Ta;
        var c = x.clone();
        c.add_(1);
        V(x).Should().Equal(A);   // the clone does not share memory
        var nc = Ta.t();
        nc.is_contiguous().Should().BeFalse();
        var cc = nc.contiguous();
        cc.is_contiguous().Should().BeTrue();
        V(cc).Should().Equal(V(nc));
        cc.stride().Should().Equal(2, 1);
        var y = zeros(2, 3, ScalarType.Float64);
        y.copy_(Ta).Should().BeSameAs(y);
        V(y).Should().Equal(A);
        y.copy_(tensor(new[] { 1.0, 2, 3 }));   // broadcasts
        V(y).Should().Equal(1, 2, 3, 1, 2, 3);
        y.zero_().Should().BeSameAs(y);
        V(y).Should().OnlyContain(v => v == 0);
        y.fill_(2.5).Should().BeSameAs(y);
        V(y).Should().OnlyContain(v => v == 2.5);
    }

    [Fact]
    public void RandomFillsFollowTheirDistributionsAndTheSeed()
    {
        manual_seed(11);
        var n = empty(20000, ScalarType.Float64);
        n.normal_(3, 2).Should().BeSameAs(n);
        n.mean().item<double>().Should().BeApproximately(3, 0.1);
        n.std().item<double>().Should().BeApproximately(2, 0.1);
        var u = empty(20000, ScalarType.Float64);
        u.uniform_(-1, 3).Should().BeSameAs(u);
        u.min().item<double>().Should().BeGreaterThanOrEqualTo(-1);
        u.max().item<double>().Should().BeLessThan(3);
        u.mean().item<double>().Should().BeApproximately(1, 0.05);
        manual_seed(11);
        var n2 = empty(20000, ScalarType.Float64).normal_(3, 2);
        V(n2).Should().Equal(V(n));
        var s = empty(10000, ScalarType.Float64).normal_();
        s.mean().item<double>().Should().BeApproximately(0, 0.05);
        s.std().item<double>().Should().BeApproximately(1, 0.05);
    }

    [Fact]
    public void DetachInPlaceCutsTheGraph()
    {
        var leaf = tensor(new[] { 1.0 }, requires_grad: true);
        var y = leaf * 2;
        y.requires_grad.Should().BeTrue();
        y.detach_().Should().BeSameAs(y);
        y.requires_grad.Should().BeFalse();
        V(y).Should().Equal(2.0);
    }

    [Fact]
    public void TypeConversions()
    {
        var x = T(new[] { 1.75, -2.5, 0.0 });
        var f = x.to_type(ScalarType.Float32);
        f.dtype.Should().Be(ScalarType.Float32);
        f.data<float>().ToArray().Should().Equal(1.75f, -2.5f, 0f);
        x.to_type(ScalarType.Int64).data<long>().ToArray().Should().Equal(1, -2, 0);   // truncation
        x.to(ScalarType.Int32).data<int>().ToArray().Should().Equal(1, -2, 0);
        x.to(ScalarType.Bool).data<bool>().ToArray().Should().Equal(true, true, false);
        x.@bool().dtype.Should().Be(ScalarType.Bool);
        x.@long().dtype.Should().Be(ScalarType.Int64);
        x.@int().dtype.Should().Be(ScalarType.Int32);
        x.@float().dtype.Should().Be(ScalarType.Float32);
        f.@double().dtype.Should().Be(ScalarType.Float64);
        x.half().data<Half>().ToArray().Should().Equal((Half)1.75, (Half)(-2.5), (Half)0);
        x.bfloat16().dtype.Should().Be(ScalarType.BFloat16);
        x.bfloat16().to_type(ScalarType.Float64).data<double>().ToArray().Should().Equal(1.75, -2.5, 0);   // exact in bfloat16
        x.type_as(tensor(new long[] { 1 })).dtype.Should().Be(ScalarType.Int64);
        x.to(ScalarType.Float32, CPU).dtype.Should().Be(ScalarType.Float32);
        x.to(CPU).dtype.Should().Be(ScalarType.Float64);
        x.to(DeviceType.CPU).device_type.Should().Be(DeviceType.CPU);
        x.to("cpu").device.ToString().Should().Be("cpu");
        x.to(tensor(new[] { 1f })).dtype.Should().Be(ScalarType.Float32);
        x.cpu().device_type.Should().Be(DeviceType.CPU);
        x.is_floating_point().Should().BeTrue();
        x.half().is_floating_point().Should().BeTrue();
        x.bfloat16().is_floating_point().Should().BeTrue();
        x.@float().is_floating_point().Should().BeTrue();
        x.@long().is_floating_point().Should().BeFalse();
        x.@bool().is_floating_point().Should().BeFalse();
    }

    [Fact]
    public void ConversionCopyAndDisposeAfter()
    {
        var x = T(new[] { 1.0, 2.0 });
        var same = x.to_type(ScalarType.Float64);
        same.add_(1);
        V(x).Should().Equal(2.0, 3.0);   // no copy: an alias of the same data
        var copy = x.to_type(ScalarType.Float64, copy: true);
        copy.add_(1);
        V(x).Should().Equal(2.0, 3.0);
        var copyToDevice = x.to(CPU, copy: true);
        copyToDevice.add_(1);
        V(x).Should().Equal(2.0, 3.0);
        var y = T(new[] { 1.0 });
        var z = y.to_type(ScalarType.Float32, disposeAfter: true);
        y.IsInvalid.Should().BeTrue();
        z.item<float>().Should().Be(1f);
        var w = z.to(ScalarType.Float64, CPU, disposeAfter: true);
        z.IsInvalid.Should().BeTrue();
        w.item<double>().Should().Be(1.0);
    }

    // ---- operators ---------------------------------------------------------------------------

    [Fact]
    public void ArithmeticOperatorsWithTensorsAndScalars()
    {
        V(Ta + Tb).Should().Equal(Zip((a, b) => a + b));
        V(Ta - Tb).Should().Equal(Zip((a, b) => a - b));
        V(Ta * Tb).Should().Equal(Zip((a, b) => a * b));
        V(Ta / Tb).Should().Equal(Zip((a, b) => a / b));
        V(Ta % Tb).Should().Equal(Zip((a, b) => a - Math.Floor(a / b) * b));
        V(-Ta).Should().Equal(Map(a => -a, A));
        Scalar s = 2.0;
        V(Ta + s).Should().Equal(Map(a => a + 2, A));
        V(s + Ta).Should().Equal(Map(a => 2 + a, A));
        V(Ta - s).Should().Equal(Map(a => a - 2, A));
        V(s - Ta).Should().Equal(Map(a => 2 - a, A));
        V(Ta * s).Should().Equal(Map(a => a * 2, A));
        V(s * Ta).Should().Equal(Map(a => 2 * a, A));
        V(Ta / s).Should().Equal(Map(a => a / 2, A));
        Near(V(s / Ta), Map(a => 2 / a, A), 1e-15);
        V(Ta % s).Should().Equal(Map(a => a - Math.Floor(a / 2) * 2, A));
    }

    [Fact]
    public void OperatorsWithEveryNumericType()
    {
        var e = A;
        V(Ta + 2).Should().Equal(Map(a => a + 2, e)); V(Ta + 2L).Should().Equal(Map(a => a + 2, e));
        V(Ta + 2f).Should().Equal(Map(a => a + 2, e)); V(Ta + 2.0).Should().Equal(Map(a => a + 2, e));
        V(2 + Ta).Should().Equal(Map(a => 2 + a, e)); V(2L + Ta).Should().Equal(Map(a => 2 + a, e));
        V(2f + Ta).Should().Equal(Map(a => 2 + a, e)); V(2.0 + Ta).Should().Equal(Map(a => 2 + a, e));
        V(Ta * 3).Should().Equal(Map(a => a * 3, e)); V(Ta * 3L).Should().Equal(Map(a => a * 3, e));
        V(Ta * 3f).Should().Equal(Map(a => a * 3, e)); V(Ta * 3.0).Should().Equal(Map(a => a * 3, e));
        V(3 * Ta).Should().Equal(Map(a => 3 * a, e)); V(3L * Ta).Should().Equal(Map(a => 3 * a, e));
        V(3f * Ta).Should().Equal(Map(a => 3 * a, e)); V(3.0 * Ta).Should().Equal(Map(a => 3 * a, e));
        V(Ta - 1).Should().Equal(Map(a => a - 1, e)); V(Ta - 1L).Should().Equal(Map(a => a - 1, e));
        V(Ta - 1f).Should().Equal(Map(a => a - 1, e)); V(Ta - 1.0).Should().Equal(Map(a => a - 1, e));
        V(1 - Ta).Should().Equal(Map(a => 1 - a, e)); V(1L - Ta).Should().Equal(Map(a => 1 - a, e));
        V(1f - Ta).Should().Equal(Map(a => 1 - a, e)); V(1.0 - Ta).Should().Equal(Map(a => 1 - a, e));
        V(Ta / 4).Should().Equal(Map(a => a / 4, e)); V(Ta / 4L).Should().Equal(Map(a => a / 4, e));
        V(Ta / 4f).Should().Equal(Map(a => a / 4, e)); V(Ta / 4.0).Should().Equal(Map(a => a / 4, e));
        Near(V(4 / Ta), Map(a => 4 / a, e), 1e-15); Near(V(4L / Ta), Map(a => 4 / a, e), 1e-15);
        Near(V(4f / Ta), Map(a => 4 / a, e), 1e-15); Near(V(4.0 / Ta), Map(a => 4 / a, e), 1e-15);
    }

    [Fact]
    public void BitwiseOperators()
    {
        var p = tensor(new[] { true, true, false, false });
        var q = tensor(new[] { true, false, true, false });
        Bools(p & q).Should().Equal(true, false, false, false);
        Bools(p | q).Should().Equal(true, true, true, false);
        Bools(p ^ q).Should().Equal(false, true, true, false);
        Bools(~p).Should().Equal(false, false, true, true);
        L(~tensor(new long[] { 5 })).Should().Equal(~5L);
    }

    [Fact]
    public void IntegerArithmeticStaysInteger()
    {
        var i = tensor(new long[] { 7, -3 });
        (i + 1).dtype.Should().Be(ScalarType.Int64);
        L(i * 2).Should().Equal(14, -6);
        L(i % 4).Should().Equal(3, 1);   // the divisor's sign
        (i + 0.5).dtype.Should().Be(ScalarType.Float32);   // a floating scalar promotes to the default float type
        (tensor(new[] { 1f }) + tensor(new[] { 1.0 })).dtype.Should().Be(ScalarType.Float64);
    }

    [Fact]
    public void ErrorsBecomeExceptionsCarryingLibtorchsMessage()
    {
        FluentActions.Invoking(() => Ta.add(T(new[] { 1.0, 2.0 }))).Should().Throw<System.Runtime.InteropServices.ExternalException>().WithMessage("*size of tensor a*");
        FluentActions.Invoking(() => Ta.matmul(Ta)).Should().Throw<System.Runtime.InteropServices.ExternalException>();
        FluentActions.Invoking(() => Ta.mm(Ta)).Should().Throw<System.Runtime.InteropServices.ExternalException>();
    }
}
