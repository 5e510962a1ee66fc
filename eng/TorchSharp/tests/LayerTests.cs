using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace TorchSharp.Binding.Tests;

[Collection("libtorch")]
public class LayerTests
{
    static double[] Values(Tensor t) => t.detach().to_type(ScalarType.Float64).data<double>().ToArray();

    static void ShouldBeClose(double[] actual, double[] expected, double tolerance)
    {
        actual.Should().HaveCount(expected.Length);
        for (int i = 0; i < expected.Length; i++) actual[i].Should().BeApproximately(expected[i], tolerance, $"element {i}");
    }

    [Fact]
    public void LinearComputesXWtPlusBByDefinition()
    {
        manual_seed(11);
        var lin = nn.Linear(3, 2, dtype: ScalarType.Float64);
        var x = randn(4, 3, dtype: ScalarType.Float64);
        var w = Values(lin.weight);
        var b = Values(lin.bias!);
        var xs = Values(x);
        var expected = new double[8];
        for (int n = 0; n < 4; n++)
            for (int o = 0; o < 2; o++) {
                double s = b[o];
                for (int i = 0; i < 3; i++) s += xs[n * 3 + i] * w[o * 3 + i];
                expected[n * 2 + o] = s;
            }
        ShouldBeClose(Values(lin.forward(x)), expected, 1e-12);
        lin.in_features.Should().Be(3);
        lin.out_features.Should().Be(2);
        lin.weight.shape.Should().Equal(2, 3);
        lin.weight.requires_grad.Should().BeTrue();
        typeof(Linear).IsSealed.Should().BeTrue();
        typeof(Linear).Namespace.Should().Be("TorchSharp.Modules");
    }

    [Fact]
    public void LinearInitialisationStaysWithinPyTorchsBounds()
    {
        manual_seed(3);
        var lin = nn.Linear(16, 64);
        var bound = 1 / Math.Sqrt(16);
        Values(lin.weight).Should().OnlyContain(v => Math.Abs(v) <= bound);
        Values(lin.bias!).Should().OnlyContain(v => Math.Abs(v) <= bound);
        // Uniform on [−bound, bound]: the standard deviation is bound/√3.
        var std = lin.weight.std().item<float>();
        std.Should().BeApproximately((float)(bound / Math.Sqrt(3)), 0.02f);
        lin.weight.dtype.Should().Be(ScalarType.Float32);
    }

    [Fact]
    public void LinearWithoutBiasAndFromGivenParameters()
    {
        var lin = nn.Linear(2, 2, hasBias: false);
        lin.bias.Should().BeNull();
        lin.named_parameters().Select(p => p.name).Should().Equal("weight");
        var x = tensor(new float[] { 1, 2 });
        Values(lin.forward(x)).Should().Equal(Values(lin.weight.matmul(x)));

        var w = nn.Parameter(tensor(new float[] { 1, 0, 0, 1, 1, 1 }, new long[] { 3, 2 }));
        var given = nn.Linear(w, nn.Parameter(tensor(new float[] { 0, 0, 1 })));
        given.weight.Should().BeSameAs(w);
        given.in_features.Should().Be(2);
        given.out_features.Should().Be(3);
        Values(given.forward(x)).Should().Equal(1, 2, 4);
    }

    [Fact]
    public void LinearWeightAndBiasSettersReRegister()
    {
        var lin = nn.Linear(2, 2);
        var old = lin.weight;
        var w = nn.Parameter(zeros(2, 2));
        lin.weight = w;
        old.IsInvalid.Should().BeTrue();
        lin.get_parameter("weight").Should().BeSameAs(w);
        lin.bias = null;
        lin.named_parameters().Select(p => p.name).Should().Equal("weight");
        lin.Invoking(l => l.weight = null!).Should().Throw<ArgumentNullException>();
    }

    [Fact]
    public void LinearInsideADisposeScopeKeepsItsParameters()
    {
        Linear lin;
        using (NewDisposeScope()) {
            lin = nn.Linear(2, 2);
            var ln = nn.LayerNorm(2);
            var emb = nn.Embedding(3, 2);
            ln.weight.IsInvalid.Should().BeFalse();
            emb.weight!.IsInvalid.Should().BeFalse();
        }
        lin.weight.IsInvalid.Should().BeFalse();
        lin.bias!.IsInvalid.Should().BeFalse();
    }

    [Fact]
    public void LinearDeviceAndDtypeArguments()
    {
        var lin = nn.Linear(2, 2, device: CPU, dtype: ScalarType.Float64);
        lin.weight.dtype.Should().Be(ScalarType.Float64);
        lin.bias!.dtype.Should().Be(ScalarType.Float64);
        lin.weight.device_type.Should().Be(DeviceType.CPU);
    }

    [Fact]
    public void EmbeddingLooksUpRowsAndPadsWithZeros()
    {
        manual_seed(5);
        var e = nn.Embedding(5, 3, padding_idx: 1);
        e.weight!.shape.Should().Equal(5, 3);
        Values(e.weight![1]).Should().Equal(0, 0, 0);
        var y = e.forward(tensor(new long[] { 4, 1, 4 }));
        y.shape.Should().Equal(3, 3);
        Values(y[0]).Should().Equal(Values(e.weight![4]));
        Values(y[1]).Should().Equal(0, 0, 0);

        // The padding row gets no gradient; the others accumulate one per occurrence.
        y.sum().backward();
        var g = Values(e.weight!.grad!);
        g.Skip(3).Take(3).Should().Equal(0, 0, 0);
        g.Skip(12).Take(3).Should().Equal(2, 2, 2);
        g.Take(3).Should().Equal(0, 0, 0);
        e.named_parameters().Select(p => p.name).Should().Equal("weight");
        e.weight.Should().BeSameAs(e.get_parameter("weight"));
    }

    [Fact]
    public void EmbeddingInitialisesFromAStandardNormal()
    {
        manual_seed(9);
        var e = nn.Embedding(200, 50);
        var w = e.weight!;
        w.mean().item<float>().Should().BeApproximately(0, 0.02f);
        w.std().item<float>().Should().BeApproximately(1, 0.02f);
    }

    [Fact]
    public void EmbeddingNegativePaddingIndexCountsFromTheEnd()
    {
        var e = nn.Embedding(4, 2, padding_idx: -1);
        Values(e.weight![3]).Should().Equal(0, 0);
        var act = () => nn.Embedding(4, 2, padding_idx: 4);
        act.Should().Throw<System.Runtime.InteropServices.ExternalException>();
    }

    [Fact]
    public void EmbeddingMaxNormRenormalisesLookedUpRows()
    {
        var table = tensor(new float[] { 3, 4, 0.3f, 0.4f }, new long[] { 2, 2 });
        var e = nn.Embedding_from_pretrained(table, freeze: false, max_norm: 1.0);
        var y = e.forward(tensor(new long[] { 0, 1 }));
        ShouldBeClose(Values(y), new[] { 0.6, 0.8, 0.3, 0.4 }, 1e-5);
        ShouldBeClose(Values(e.weight![0]), new[] { 0.6, 0.8 }, 1e-5);   // in place, as libtorch does
    }

    [Fact]
    public void EmbeddingFromPretrainedSharesStorageAndFreezes()
    {
        var table = tensor(new float[] { 1, 2, 3, 4 }, new long[] { 2, 2 });
        var e = nn.Embedding_from_pretrained(table);
        e.weight!.requires_grad.Should().BeFalse();
        Values(e.forward(tensor(new long[] { 1 }))).Should().Equal(3, 4);
        table.fill_(0);
        Values(e.weight!).Should().Equal(0, 0, 0, 0);
        nn.Embedding_from_pretrained(table, freeze: false).weight!.requires_grad.Should().BeTrue();
    }

    [Fact]
    public void EmbeddingToConvertsTheWeightInPlaceKeepingTheParameter()
    {
        var e = nn.Embedding(3, 2);
        var w = e.weight!;
        e.to(ScalarType.Float64).Should().BeSameAs(e);
        e.weight.Should().BeSameAs(w);
        w.dtype.Should().Be(ScalarType.Float64);
        w.requires_grad.Should().BeTrue();
        e.forward(tensor(new long[] { 0 })).dtype.Should().Be(ScalarType.Float64);
        var e2 = nn.Embedding(3, 2, dtype: ScalarType.Float64);
        e2.weight!.dtype.Should().Be(ScalarType.Float64);
    }

    [Fact]
    public void EmbeddingWeightSetterReplacesAndRegisters()
    {
        var e = nn.Embedding(3, 2);
        var w = nn.Parameter(ones(3, 2));
        e.weight = w;
        e.weight.Should().BeSameAs(w);
        e.get_parameter("weight").Should().BeSameAs(w);
        Values(e.forward(tensor(new long[] { 2 }))).Should().Equal(1, 1);
        e.Invoking(x => x.weight = null).Should().Throw<ArgumentNullException>();
    }

    [Fact]
    public void LayerNormNormalisesWithTheBiasedVarianceThenScalesAndShifts()
    {
        var ln = nn.LayerNorm(3, eps: 1e-5, dtype: ScalarType.Float64);
        ln.weight.shape.Should().Equal(3);
        Values(ln.weight).Should().Equal(1, 1, 1);
        Values(ln.bias!).Should().Equal(0, 0, 0);
        using (no_grad()) {
            ln.weight.copy_(tensor(new double[] { 1, 2, 3 }));
            ln.bias!.copy_(tensor(new double[] { 0.5, 0, -0.5 }));
        }
        var rows = new[] { new double[] { 1, 2, 6 }, new double[] { -1, 0, 4 } };
        var x = tensor(rows.SelectMany(r => r).ToArray(), new long[] { 2, 3 });
        var expected = new List<double>();
        foreach (var r in rows) {
            var mean = r.Average();
            var variance = r.Select(v => (v - mean) * (v - mean)).Average();
            double[] w = { 1, 2, 3 }, b = { 0.5, 0, -0.5 };
            for (int i = 0; i < 3; i++) expected.Add((r[i] - mean) / Math.Sqrt(variance + 1e-5) * w[i] + b[i]);
        }
        ShouldBeClose(Values(ln.forward(x)), expected.ToArray(), 1e-12);
        ln.named_parameters().Select(p => p.name).Should().Equal("weight", "bias");
        ln.eps.Should().Be(1e-5);
        ln.normalized_shape.Should().Equal(3);
    }

    [Fact]
    public void LayerNormOverTwoDimensionsAndWithoutAffine()
    {
        var ln = nn.LayerNorm(new long[] { 2, 2 }, elementwise_affine: false);
        ln.parameters().Should().BeEmpty();
        ln.bias.Should().BeNull();
        var x = tensor(new float[] { 1, 2, 3, 4 }, new long[] { 1, 2, 2 });
        var sd = Math.Sqrt(1.25 + 1e-5);
        ShouldBeClose(Values(ln.forward(x)), new[] { -1.5 / sd, -0.5 / sd, 0.5 / sd, 1.5 / sd }, 1e-5);
        nn.LayerNorm(2, bias: false).named_parameters().Select(p => p.name).Should().Equal("weight");
    }

    [Fact]
    public void LayerNormToReplacesItsParameters()
    {
        var ln = nn.LayerNorm(2);
        ln.to(ScalarType.Float64);
        ln.weight.dtype.Should().Be(ScalarType.Float64);
        ln.get_parameter("bias").Should().BeSameAs(ln.bias);
    }

    [Fact]
    public void DropoutIsIdentityInEvalAndZeroesOrRescalesInTrain()
    {
        manual_seed(1);
        var d = nn.Dropout(0.25);
        d.p.Should().Be(0.25);
        var x = ones(4000);
        d.eval();
        Values(d.forward(x)).Should().OnlyContain(v => v == 1);
        d.train();
        var y = Values(d.forward(x));
        y.Should().OnlyContain(v => v == 0 || Math.Abs(v - 1 / 0.75) < 1e-6);
        y.Count(v => v == 0).Should().BeInRange(800, 1200);
        nn.Dropout(0).forward(x).equal(x).all().item<bool>().Should().BeTrue();
    }

    [Fact]
    public void ActivationsMatchTheirDefinitions()
    {
        var xs = new double[] { -2, -0.5, 0, 0.5, 2 };
        var x = tensor(xs);
        // GELU exact: x·Φ(x) with Φ(x) = (1 + erf(x/√2))/2; values of Φ from tables.
        double[] phi = { 0.022750131948179195, 0.3085375387259869, 0.5, 0.6914624612740131, 0.9772498680518208 };
        ShouldBeClose(Values(nn.GELU().forward(x)), xs.Select((v, i) => v * phi[i]).ToArray(), 1e-12);
        ShouldBeClose(Values(nn.Tanh().forward(x)), xs.Select(Math.Tanh).ToArray(), 1e-12);
        Values(nn.ReLU().forward(x)).Should().Equal(0, 0, 0, 0.5, 2);
        Values(nn.Identity().forward(x)).Should().Equal(xs);
        Values(x).Should().Equal(xs);
    }

    [Fact]
    public void InplaceActivationsModifyTheirInput()
    {
        var x = tensor(new double[] { -1, 1 });
        var y = nn.ReLU(inplace: true).forward(x);
        y.Should().NotBeSameAs(x);
        Values(x).Should().Equal(0, 1);
        var t = tensor(new double[] { 0.5 });
        nn.Tanh(true).forward(t);
        Values(t)[0].Should().BeApproximately(Math.Tanh(0.5), 1e-12);
        var g = tensor(new double[] { 1 });
        nn.GELU(true).forward(g);
        Values(g)[0].Should().BeApproximately(0.8413447460685429, 1e-12);
    }

    [Fact]
    public void IdentityReturnsAnAliasThatCanBeDisposedSeparately()
    {
        var x = ones(3);
        var y = nn.Identity().forward(x);
        y.Should().NotBeSameAs(x);
        y.Dispose();
        Values(x).Should().Equal(1, 1, 1);
    }

    [Fact]
    public void LayersTrainEndToEnd()
    {
        manual_seed(2);
        var model = nn.Sequential(nn.Linear(3, 8), nn.GELU(), nn.LayerNorm(8), nn.Dropout(0.1), nn.Linear(8, 2));
        var x = randn(16, 3);
        var y = randn(16, 2);
        double first = 0, last = 0;
        for (int step = 0; step < 60; step++) {
            model.zero_grad();
            var loss = nn.functional.mse_loss(model.forward(x), y);
            loss.backward();
            if (step == 0) first = loss.item<float>();
            last = loss.item<float>();
            using (no_grad()) {
                foreach (var p in model.parameters()) p.sub_(p.grad! * 0.05);
            }
        }
        last.Should().BeLessThan(first * 0.8);
    }
}
