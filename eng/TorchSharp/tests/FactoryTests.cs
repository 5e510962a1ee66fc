using static TorchSharp.torch;

namespace TorchSharp.Binding.Tests;

/// torch.* factories, joins and functions, global state, linalg, Scalar and Device, against definitions.
[Collection("libtorch")]
public class FactoryTests
{
    static double[] V(Tensor t) => t.data<double>().ToArray();
    static float[] F(Tensor t) => t.data<float>().ToArray();
    static long[] L(Tensor t) => t.data<long>().ToArray();

    public static IEnumerable<object[]> DTypes() => new[] {
        new object[] { ScalarType.Float32, 4L }, new object[] { ScalarType.Float64, 8L }, new object[] { ScalarType.Int64, 8L },
        new object[] { ScalarType.Int32, 4L }, new object[] { ScalarType.Bool, 1L }, new object[] { ScalarType.Float16, 2L },
        new object[] { ScalarType.BFloat16, 2L }, new object[] { ScalarType.Byte, 1L } };

    /// The values of any tensor, converted to float64 by libtorch (exact for the small integers used here).
    static double[] AsDouble(Tensor t) => t.to_type(ScalarType.Float64).data<double>().ToArray();

    [Theory]
    [MemberData(nameof(DTypes))]
    public void ConstantFactoriesInEveryDType(ScalarType dtype, long elementSize)
    {
        var z = zeros(new long[] { 2, 3 }, dtype);
        (z.dtype, z.element_size(), z.ElementSize).Should().Be((dtype, elementSize, elementSize));
        z.shape.Should().Equal(2, 3);
        AsDouble(z).Should().Equal(0, 0, 0, 0, 0, 0);
        var o = ones(new long[] { 4 }, dtype);
        o.dtype.Should().Be(dtype);
        AsDouble(o).Should().Equal(1, 1, 1, 1);
        var f = full(new long[] { 2 }, dtype == ScalarType.Bool ? (Scalar)true : (Scalar)3, dtype);
        f.dtype.Should().Be(dtype);
        AsDouble(f).Should().Equal(dtype == ScalarType.Bool ? new[] { 1.0, 1.0 } : new[] { 3.0, 3.0 });
        var e = empty(new long[] { 3, 1 }, dtype);
        (e.dtype, e.shape.Length, e.numel()).Should().Be((dtype, 2, 3L));
        if (dtype == ScalarType.BFloat16) return;   // libtorch 1.13 has no CPU eye for bfloat16 (2.5.1 has)
        var i = eye(2, dtype: dtype);
        i.dtype.Should().Be(dtype);
        AsDouble(i).Should().Equal(1, 0, 0, 1);
    }

    [Fact]
    public void FactoryOverloadsForEachRank()
    {
        zeros(3).shape.Should().Equal(3);
        zeros(2, 3).shape.Should().Equal(2, 3);
        zeros(2, 3, 4).shape.Should().Equal(2, 3, 4);
        zeros(2, 3, 4, 5).shape.Should().Equal(2, 3, 4, 5);
        ones(3).shape.Should().Equal(3);
        ones(2, 3).shape.Should().Equal(2, 3);
        ones(2, 3, 4).shape.Should().Equal(2, 3, 4);
        empty(3).shape.Should().Equal(3);
        empty(2, 3).shape.Should().Equal(2, 3);
        full(3, 1.5).shape.Should().Equal(3);
        full(2, 3, 1.5).shape.Should().Equal(2, 3);
        F(full(2, 2, 1.5)).Should().Equal(1.5f, 1.5f, 1.5f, 1.5f);
        zeros(3).dtype.Should().Be(ScalarType.Float32);   // the default dtype
        ones(3).dtype.Should().Be(ScalarType.Float32);
        full(3, 2).dtype.Should().Be(ScalarType.Int64);    // like PyTorch: full infers the dtype from the value
        full(3, 2.0).dtype.Should().Be(ScalarType.Float32);
        full(3, true).dtype.Should().Be(ScalarType.Bool);
        zeros(0).numel().Should().Be(0);
        zeros(Array.Empty<long>()).shape.Should().BeEmpty();
        zeros(Array.Empty<long>()).numel().Should().Be(1);
    }

    [Fact]
    public void RequiresGradAndDeviceArguments()
    {
        zeros(2, requires_grad: true).requires_grad.Should().BeTrue();
        ones(2, requires_grad: true).requires_grad.Should().BeTrue();
        empty(2, requires_grad: true).requires_grad.Should().BeTrue();
        full(2, 1.0, requires_grad: true).requires_grad.Should().BeTrue();
        randn(2, requires_grad: true).requires_grad.Should().BeTrue();
        rand(2, requires_grad: true).requires_grad.Should().BeTrue();
        eye(2, requires_grad: true).requires_grad.Should().BeTrue();
        arange(0, 2.0, 1.0, requires_grad: true).requires_grad.Should().BeTrue();
        zeros(2).requires_grad.Should().BeFalse();
        zeros(2, device: CPU).device_type.Should().Be(DeviceType.CPU);
        ones(2, device: new Device("cpu")).device_index.Should().Be(-1);
        FluentActions.Invoking(() => randint(10, new long[] { 2 }, requires_grad: true)).Should().Throw<System.Runtime.InteropServices.ExternalException>();
    }

    [Fact]
    public void RandomFactoriesAreRepeatableUnderASeed()
    {
        manual_seed(42);
        var a = randn(4, 5);
        var b = rand(3);
        var c = randint(0, 10, new long[] { 6 });
        var d = randperm(5);
        manual_seed(42);
        F(randn(4, 5)).Should().Equal(F(a));
        F(rand(3)).Should().Equal(F(b));
        L(randint(0, 10, new long[] { 6 })).Should().Equal(L(c));
        L(randperm(5)).Should().Equal(L(d));
        manual_seed(43);
        F(randn(4, 5)).Should().NotEqual(F(a));
        manual_seed(7).Should().NotBeNull();
    }

    [Fact]
    public void RandomFactoriesFollowTheirDistributions()
    {
        manual_seed(1);
        var n = randn(new long[] { 40000 }, ScalarType.Float64);
        n.dtype.Should().Be(ScalarType.Float64);
        n.mean().item<double>().Should().BeApproximately(0, 0.03);
        n.std().item<double>().Should().BeApproximately(1, 0.03);
        var u = rand(new long[] { 40000 }, ScalarType.Float64);
        u.min().item<double>().Should().BeGreaterThanOrEqualTo(0);
        u.max().item<double>().Should().BeLessThan(1);
        u.mean().item<double>().Should().BeApproximately(0.5, 0.01);
        rand(2, 3).shape.Should().Equal(2, 3);
        randn(2, 3).shape.Should().Equal(2, 3);
        randn(2, 3, 4).shape.Should().Equal(2, 3, 4);
        randn(2, 3, 4, 5).shape.Should().Equal(2, 3, 4, 5);
        var r = randint(3, 7, new long[] { 1000 });
        r.dtype.Should().Be(ScalarType.Int64);
        L(r).Should().OnlyContain(v => v >= 3 && v < 7);
        L(r).Distinct().Should().HaveCount(4);
        L(randint(5, new long[] { 500 })).Should().OnlyContain(v => v >= 0 && v < 5);
        randint(5, new long[] { 2 }, ScalarType.Int32).dtype.Should().Be(ScalarType.Int32);
        var p = randperm(10);
        p.dtype.Should().Be(ScalarType.Int64);
        L(p).OrderBy(v => v).Should().Equal(Enumerable.Range(0, 10).Select(v => (long)v));
        randperm(4, ScalarType.Int32).dtype.Should().Be(ScalarType.Int32);
    }

    [Fact]
    public void ArangeInfersItsDType()
    {
        var i = arange(5);
        i.dtype.Should().Be(ScalarType.Int64);
        L(i).Should().Equal(0, 1, 2, 3, 4);
        L(arange(2, 5)).Should().Equal(2, 3, 4);
        L(arange(10, 0, -3)).Should().Equal(10, 7, 4, 1);
        var f = arange(0, 1.0, 0.25);
        f.dtype.Should().Be(ScalarType.Float32);
        F(f).Should().Equal(0f, 0.25f, 0.5f, 0.75f);
        arange(2.5).dtype.Should().Be(ScalarType.Float32);
        V(arange(0, 3, 1, ScalarType.Float64)).Should().Equal(0, 1, 2);
        arange(3, ScalarType.Float64).dtype.Should().Be(ScalarType.Float64);
    }

    [Fact]
    public void EyeAndLikeFactories()
    {
        V(eye(2, 3, ScalarType.Float64)).Should().Equal(1, 0, 0, 0, 1, 0);
        eye(3).dtype.Should().Be(ScalarType.Float32);
        F(eye(3)).Should().Equal(1, 0, 0, 0, 1, 0, 0, 0, 1);
        var src = tensor(new[] { 1.0, 2, 3 }, new long[] { 3, 1 });
        var z = zeros_like(src);
        (z.dtype, z.shape.Length, z.shape[0]).Should().Be((ScalarType.Float64, 2, 3L));
        V(z).Should().Equal(0, 0, 0);
        V(ones_like(src)).Should().Equal(1, 1, 1);
        empty_like(src).shape.Should().Equal(3, 1);
        V(full_like(src, 4.5)).Should().Equal(4.5, 4.5, 4.5);
        zeros_like(src, ScalarType.Int64).dtype.Should().Be(ScalarType.Int64);
        ones_like(src, requires_grad: true).requires_grad.Should().BeTrue();
        full_like(src, 2, ScalarType.Float32).dtype.Should().Be(ScalarType.Float32);
        empty_like(src, ScalarType.Bool).dtype.Should().Be(ScalarType.Bool);
        manual_seed(5);
        var rl = randn_like(src);
        rl.shape.Should().Equal(3, 1);
        rl.dtype.Should().Be(ScalarType.Float64);
        manual_seed(5);
        V(randn_like(src)).Should().Equal(V(rl));
        randn_like(src, ScalarType.Float32).dtype.Should().Be(ScalarType.Float32);
    }

    [Fact]
    public void TensorsFromArrays()
    {
        var f = tensor(new[] { 1.5f, -2f });
        (f.dtype, f.shape[0]).Should().Be((ScalarType.Float32, 2L));
        F(f).Should().Equal(1.5f, -2f);
        tensor(new[] { 1f, 2, 3, 4 }, new long[] { 2, 2 }).shape.Should().Equal(2, 2);
        V(tensor(new[] { 1.0, 2, 3, 4, 5, 6 }, new long[] { 3, 2 })[2]).Should().Equal(5, 6);
        tensor(new[] { 1.0 }).dtype.Should().Be(ScalarType.Float64);
        L(tensor(new long[] { 5, -6 })).Should().Equal(5, -6);
        tensor(new long[] { 1, 2 }, new long[] { 1, 2 }).shape.Should().Equal(1, 2);
        tensor(new[] { 7, 8 }).data<int>().ToArray().Should().Equal(7, 8);
        tensor(new[] { 7, 8 }, new long[] { 2, 1 }).dtype.Should().Be(ScalarType.Int32);
        tensor(new[] { true, false }).data<bool>().ToArray().Should().Equal(true, false);
        tensor(new[] { true, false }, new long[] { 2, 1 }).shape.Should().Equal(2, 1);
        tensor(new byte[] { 1, 255 }, new long[] { 2 }).data<byte>().ToArray().Should().Equal(1, 255);
        var h = tensor(new[] { (Half)0.5, (Half)(-1) }, new long[] { 2 });
        h.dtype.Should().Be(ScalarType.Float16);
        h.data<Half>().ToArray().Should().Equal((Half)0.5, (Half)(-1));
        // scalars are 0-d
        var s = tensor(2.5f);
        (s.dtype, s.shape.Length).Should().Be((ScalarType.Float32, 0));
        tensor(2.5).dtype.Should().Be(ScalarType.Float64);
        tensor(3L).item<long>().Should().Be(3);
        tensor(3L).Dimensions.Should().Be(0);
        // conversion on creation
        tensor(new[] { 1.0, 2.0 }, ScalarType.Float32).dtype.Should().Be(ScalarType.Float32);
        tensor(new long[] { 1 }, ScalarType.Float64).item<double>().Should().Be(1.0);
        tensor(new[] { 1.5, -2.5 }, ScalarType.Float16).data<Half>().ToArray().Should().Equal((Half)1.5, (Half)(-2.5));
        tensor(new[] { 1.5, -2.5 }, ScalarType.BFloat16).to_type(ScalarType.Float64).data<double>().ToArray().Should().Equal(1.5, -2.5);
        tensor(2.0, ScalarType.Int64).item<long>().Should().Be(2);
        tensor(new[] { 1.0 }, requires_grad: true).requires_grad.Should().BeTrue();
        tensor(new[] { 1f }, device: CPU).device_type.Should().Be(DeviceType.CPU);
        FluentActions.Invoking(() => tensor(new[] { 1.0, 2, 3 }, new long[] { 2, 2 })).Should().Throw<ArgumentException>();
    }

    [Fact]
    public void TheArrayIsCopied()
    {
        var data = new[] { 1.0, 2.0 };
        var t = tensor(data);
        data[0] = 99;
        V(t).Should().Equal(1.0, 2.0);
    }

    // ---- joins and functions ---------------------------------------------------------------------

    [Fact]
    public void CatConcatStack()
    {
        var a = tensor(new[] { 1.0, 2 }, new long[] { 1, 2 });
        var b = tensor(new[] { 3.0, 4, 5, 6 }, new long[] { 2, 2 });
        V(cat(new[] { a, b })).Should().Equal(1, 2, 3, 4, 5, 6);
        cat(new[] { a, b }).shape.Should().Equal(3, 2);
        V(cat(new[] { b, b }, 1)).Should().Equal(3, 4, 3, 4, 5, 6, 5, 6);
        V(concat(new List<Tensor> { a, a }, 0)).Should().Equal(1, 2, 1, 2);
        var s = stack(new[] { a, a, a });
        s.shape.Should().Equal(3, 1, 2);
        stack(new[] { b, b }, 2).shape.Should().Equal(2, 2, 2);
        V(stack(new[] { b, b }, 2)).Should().Equal(3, 3, 4, 4, 5, 5, 6, 6);
        FluentActions.Invoking(() => stack(new[] { a, b })).Should().Throw<System.Runtime.InteropServices.ExternalException>();
    }

    [Fact]
    public void StaticFunctionsMatchTheirDefinitions()
    {
        var x = tensor(new[] { 1.0, -4.0, 9.0 });
        var y = tensor(new[] { 2.0, 0.5, -1.0 });
        var m = tensor(new[] { 1.0, 2, 3, 4 }, new long[] { 2, 2 });
        var cond = tensor(new[] { true, false, true });
        V(where(cond, x, y)).Should().Equal(1, 0.5, 9);
        V(matmul(m, m)).Should().Equal(7, 10, 15, 22);
        V(mm(m, m)).Should().Equal(7, 10, 15, 22);
        V(bmm(m.unsqueeze(0), m.unsqueeze(0))).Should().Equal(7, 10, 15, 22);
        V(einsum("ij,jk->ik", m, m)).Should().Equal(7, 10, 15, 22);
        V(einsum("ii", m)).Should().Equal(5);
        V(diag(tensor(new[] { 1.0, 2 }))).Should().Equal(1, 0, 0, 2);
        V(diag(m, 1)).Should().Equal(2);
        V(outer(tensor(new[] { 1.0, 2 }), tensor(new[] { 3.0, 4 }))).Should().Equal(3, 4, 6, 8);
        V(abs(x)).Should().Equal(1, 4, 9);
        V(sqrt(abs(x))).Should().Equal(1, 2, 3);
        V(exp(tensor(new[] { 0.0, 1.0 })))[1].Should().BeApproximately(Math.Exp(1), 1e-15);
        V(log(tensor(new[] { 1.0, Math.E })))[1].Should().BeApproximately(1, 1e-15);
        V(pow(x, 2)).Should().Equal(1, 16, 81);
        V(pow(tensor(new[] { 2.0, 3.0 }), tensor(new[] { 3.0, 2.0 }))).Should().Equal(8, 9);
        V(clamp(x, -1, 2)).Should().Equal(1, -1, 2);
        V(clamp(x, min: 0)).Should().Equal(1, 0, 9);
        V(maximum(x, y)).Should().Equal(2, 0.5, 9);
        V(minimum(x, y)).Should().Equal(1, -4, -1);
        sum(x).item<double>().Should().Be(6);
        sum(tensor(new long[] { 1, 2 }), ScalarType.Float64).item<double>().Should().Be(3);
        mean(x).item<double>().Should().Be(2);
        max(x).item<double>().Should().Be(9);
        min(x).item<double>().Should().Be(-4);
        argmax(x).item<long>().Should().Be(2);
        L(argmax(m, 1)).Should().Equal(1, 1);
        argmax(m, 0, keepdim: true).shape.Should().Equal(1, 2);
        isfinite(tensor(new[] { 1.0, double.NaN })).data<bool>().ToArray().Should().Equal(true, false);
        tanh(tensor(new[] { 0.5 })).item<double>().Should().BeApproximately(Math.Tanh(0.5), 1e-15);
        V(sigmoid(tensor(new[] { 0.0 }))).Should().Equal(0.5);
        allclose(x, x + 1e-10).Should().BeTrue();
        allclose(x, x + 1e-3).Should().BeFalse();
        equal(x, tensor(new[] { 1.0, 0, 9 })).data<bool>().ToArray().Should().Equal(true, false, true);
        eq(x, tensor(new[] { 1.0, 0, 9 })).data<bool>().ToArray().Should().Equal(true, false, true);
        var (values, indices) = topk(tensor(new[] { 3.0, 1, 4, 1.5 }), 2);
        V(values).Should().Equal(4, 3);
        L(indices).Should().Equal(2, 0);
        V(topk(tensor(new[] { 3.0, 1, 4, 1.5 }), 2, largest: false).values).Should().Equal(1, 1.5);
        V(topk(m, 1, dim: 0).values).Should().Equal(3, 4);
    }

    // ---- global state ------------------------------------------------------------------------------

    [Fact]
    public void ThreadSettings()
    {
        var before = get_num_threads();
        before.Should().BeGreaterThan(0);
        get_num_interop_threads().Should().BeGreaterThan(0);
        try {
            set_num_threads(1);
            get_num_threads().Should().Be(1);
            set_num_threads(2);
            get_num_threads().Should().Be(2);
        } finally {
            set_num_threads(before);
        }
    }

    [Fact]
    public void GradModeScopesNestAndRestore()
    {
        is_grad_enabled().Should().BeTrue();
        using (no_grad()) {
            is_grad_enabled().Should().BeFalse();
            using (enable_grad()) is_grad_enabled().Should().BeTrue();
            is_grad_enabled().Should().BeFalse();
            using (set_grad_enabled(true)) is_grad_enabled().Should().BeTrue();
            using (enable_grad(false)) is_grad_enabled().Should().BeFalse();
        }
        is_grad_enabled().Should().BeTrue();
        using (set_grad_enabled(false)) is_grad_enabled().Should().BeFalse();
        is_grad_enabled().Should().BeTrue();
        var scope = no_grad();
        scope.Dispose();
        scope.Dispose();   // disposing twice restores once
        is_grad_enabled().Should().BeTrue();
    }

    [Fact]
    public void ManualSeedReturnsAGenerator()
    {
        var g = manual_seed(1);
        g.Should().NotBeNull();
        g.Dispose();
        randn(2).shape.Should().Equal(2);   // the default generator still works
    }

    // ---- linear algebra ------------------------------------------------------------------------------

    [Fact]
    public void SvdFactorsAndOrdersSingularValues()
    {
        // A = diag(3, 1) rotated: singular values exactly 3 and 1
        var a = tensor(new[] { 3.0, 0, 0, 1, 0, 0 }, new long[] { 3, 2 });
        var (u, s, vh) = linalg.svd(a);
        u.shape.Should().Equal(3, 3);   // full matrices by default
        vh.shape.Should().Equal(2, 2);
        V(s)[0].Should().BeApproximately(3, 1e-14);
        V(s)[1].Should().BeApproximately(1, 1e-14);
        var (u2, s2, vh2) = linalg.svd(a, fullMatrices: false);
        u2.shape.Should().Equal(3, 2);
        (u2 * s2).matmul(vh2).allclose(a, 1e-12, 1e-12).Should().BeTrue();
        u2.t().matmul(u2).allclose(eye(2, dtype: ScalarType.Float64), 1e-12, 1e-12).Should().BeTrue();
        vh2.matmul(vh2.t()).allclose(eye(2, dtype: ScalarType.Float64), 1e-12, 1e-12).Should().BeTrue();
    }

    [Fact]
    public void MatrixRankAndVectorNorm()
    {
        var rank1 = tensor(new[] { 1.0, 2, 2, 4 }, new long[] { 2, 2 });
        linalg.matrix_rank(rank1).item<long>().Should().Be(1);
        linalg.matrix_rank(eye(3, dtype: ScalarType.Float64)).item<long>().Should().Be(3);
        linalg.matrix_rank(tensor(new[] { 1.0, 0, 0, 1e-3 }, new long[] { 2, 2 }), atol: 1e-2).item<long>().Should().Be(1);
        linalg.matrix_rank(tensor(new[] { 1.0, 0, 0, 1e-3 }, new long[] { 2, 2 }), rtol: 1e-2).item<long>().Should().Be(1);
        var v = tensor(new[] { 3.0, -4.0, 0, 12 }, new long[] { 2, 2 });
        linalg.vector_norm(v).item<double>().Should().Be(13);   // √(9 + 16 + 144)
        linalg.vector_norm(v, 1).item<double>().Should().Be(19);
        linalg.vector_norm(v, double.PositiveInfinity).item<double>().Should().Be(12);
        V(linalg.vector_norm(v, 2, new long[] { 1 })).Should().Equal(5, 12);
        linalg.vector_norm(v, 2, new long[] { 0 }, keepdim: true).shape.Should().Equal(1, 2);
    }

    // ---- Scalar and Device ---------------------------------------------------------------------------

    [Fact]
    public void ScalarsKeepTheirTypeAndValue()
    {
        Scalar b = (byte)7, sb = (sbyte)-7, sh = (short)-300, i = 5, l = 1L << 40, h = (Half)0.5, f = 1.5f, d = 2.25, t = true;
        (b.Type, sb.Type, sh.Type, i.Type, l.Type, h.Type, f.Type, d.Type, t.Type).Should().Be(
            (ScalarType.Byte, ScalarType.Int8, ScalarType.Int16, ScalarType.Int32, ScalarType.Int64, ScalarType.Float16, ScalarType.Float32, ScalarType.Float64, ScalarType.Bool));
        l.ToInt64().Should().Be(1L << 40);
        sh.ToInt32().Should().Be(-300);
        d.ToDouble().Should().Be(2.25);
        d.ToSingle().Should().Be(2.25f);
        f.ToDouble().Should().Be(1.5);
        h.ToDouble().Should().Be(0.5);
        t.ToBoolean().Should().BeTrue();
        i.ToDouble().Should().Be(5);
        d.ToInt64().Should().Be(2);
        3.ToScalar().Type.Should().Be(ScalarType.Int32);
        3L.ToScalar().Type.Should().Be(ScalarType.Int64);
        3f.ToScalar().Type.Should().Be(ScalarType.Float32);
        3.0.ToScalar().Type.Should().Be(ScalarType.Float64);
        false.ToScalar().ToBoolean().Should().BeFalse();
        d.Dispose();
        // Scalars reach libtorch with their type: 1 << 40 survives, 2.25 stays fractional
        full(new long[] { 1 }, l, ScalarType.Int64).item<long>().Should().Be(1L << 40);
        full(new long[] { 1 }, d, ScalarType.Float64).item<double>().Should().Be(2.25);
        full(new long[] { 1 }, sb).item<long>().Should().Be(-7);
        zeros(2, ScalarType.Bool).fill_(true).data<bool>().ToArray().Should().Equal(true, true);
        zeros(2, ScalarType.Bool).masked_fill(tensor(new[] { false, true }), true).data<bool>().ToArray().Should().Equal(false, true);
        full(new long[] { 2 }, true).data<bool>().ToArray().Should().Equal(true, true);
    }

    [Fact]
    public void DevicesParseAndPrint()
    {
        var cpu = new Device("cpu");
        (cpu.type, cpu.index).Should().Be((DeviceType.CPU, -1));
        cpu.ToString().Should().Be("cpu");
        var cuda1 = new Device("cuda:1");
        (cuda1.type, cuda1.index).Should().Be((DeviceType.CUDA, 1));
        cuda1.ToString().Should().Be("cuda:1");
        new Device("CUDA").ToString().Should().Be("cuda");
        new Device("cuda", 2).index.Should().Be(2);
        new Device(DeviceType.MPS).ToString().Should().Be("mps");
        new Device(3).ToString().Should().Be("cuda:3");
        new Device("meta").type.Should().Be(DeviceType.META);
        Device fromString = "cpu";
        fromString.type.Should().Be(DeviceType.CPU);
        FluentActions.Invoking(() => new Device("tpu")).Should().Throw<ArgumentException>();
        (CPU.type, META.type, CUDA.type).Should().Be((DeviceType.CPU, DeviceType.META, DeviceType.CUDA));
        device("cuda:0").index.Should().Be(0);
        device("cuda", 1).index.Should().Be(1);
        device(DeviceType.CPU).type.Should().Be(DeviceType.CPU);
        cuda.is_available().Should().BeFalse();
        cuda.device_count().Should().Be(0);
        ((int)DeviceType.CUDA, (int)DeviceType.META, (int)DeviceType.MPS).Should().Be((1, 14, 13));
    }

    [Fact]
    public void ScalarTypeValuesAreLibtorchs()
    {
        ((int)ScalarType.Byte, (int)ScalarType.Int8, (int)ScalarType.Int16, (int)ScalarType.Int32, (int)ScalarType.Int64, (int)ScalarType.Float16).Should().Be((0, 1, 2, 3, 4, 5));
        ((int)ScalarType.Float32, (int)ScalarType.Float64, (int)ScalarType.ComplexFloat32, (int)ScalarType.ComplexFloat64, (int)ScalarType.Bool, (int)ScalarType.BFloat16).Should().Be((6, 7, 9, 10, 11, 15));
        foreach (var t in new[] { ScalarType.Byte, ScalarType.Int8, ScalarType.Int16, ScalarType.Int32, ScalarType.Int64, ScalarType.Float16, ScalarType.Float32, ScalarType.Float64, ScalarType.ComplexFloat32, ScalarType.ComplexFloat64, ScalarType.Bool, ScalarType.BFloat16 })
            zeros(1, t).dtype.Should().Be(t);   // libtorch reports back the type it was asked for
    }

    [Fact]
    public void ComplexTensorsValidateTheirElementType()
    {
        var c = zeros(2, ScalarType.ComplexFloat64);
        c.data<System.Numerics.Complex>().ToArray().Should().Equal(System.Numerics.Complex.Zero, System.Numerics.Complex.Zero);
        FluentActions.Invoking(() => c.data<double>()).Should().Throw<ArgumentException>();
        zeros(1, ScalarType.ComplexFloat32).data<(float, float)>()[0].Should().Be((0f, 0f));
    }
}
