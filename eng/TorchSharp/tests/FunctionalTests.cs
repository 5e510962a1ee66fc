using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace TorchSharp.Binding.Tests;

[Collection("libtorch")]
public class FunctionalTests
{
    static double[] Values(Tensor t) => t.detach().to_type(ScalarType.Float64).data<double>().ToArray();

    static void ShouldBeClose(double[] actual, double[] expected, double tolerance)
    {
        actual.Should().HaveCount(expected.Length);
        for (int i = 0; i < expected.Length; i++) actual[i].Should().BeApproximately(expected[i], tolerance, $"element {i}");
    }

    static double[] LogSoftmax(double[] row)
    {
        var max = row.Max();
        var lse = max + Math.Log(row.Sum(v => Math.Exp(v - max)));
        return row.Select(v => v - lse).ToArray();
    }

    static readonly double[][] Logits = { new double[] { 2, 0, -1 }, new double[] { 0.5, 3, 0 }, new double[] { 1, 1, 1 }, new double[] { -2, 0, 4 } };

    static Tensor LogitsTensor() => tensor(Logits.SelectMany(r => r).ToArray(), new long[] { 4, 3 });

    [Fact]
    public void LinearWithAndWithoutBias()
    {
        var x = tensor(new double[] { 1, 2 }, new long[] { 1, 2 });
        var w = tensor(new double[] { 1, 1, 2, -1, 0, 3 }, new long[] { 3, 2 });
        var b = tensor(new double[] { 0.5, 0, -1 });
        Values(functional.linear(x, w)).Should().Equal(3, 0, 6);
        Values(functional.linear(x, w, b)).Should().Equal(3.5, 0, 5);
        var act = () => functional.linear(x, tensor(new double[] { 1, 2, 3 }, new long[] { 1, 3 }));
        act.Should().Throw<ExternalException>();
    }

    [Fact]
    public void SoftmaxAndLogSoftmaxMatchTheDefinition()
    {
        var x = LogitsTensor();
        var expectedLog = Logits.SelectMany(LogSoftmax).ToArray();
        ShouldBeClose(Values(functional.log_softmax(x, 1)), expectedLog, 1e-12);
        ShouldBeClose(Values(functional.softmax(x, -1)), expectedLog.Select(Math.Exp).ToArray(), 1e-12);
        // Along dim 0 every column sums to one.
        ShouldBeClose(Values(functional.softmax(x, 0).sum(new long[] { 0 })), new double[] { 1, 1, 1 }, 1e-12);
        var f = tensor(new float[] { 1, 2 });
        functional.softmax(f, 0, ScalarType.Float64).dtype.Should().Be(ScalarType.Float64);
        functional.softmax(f, 0).dtype.Should().Be(ScalarType.Float32);
    }

    [Fact]
    public void CrossEntropyAveragesNegativeLogLikelihoodsAndSkipsIgnoredTargets()
    {
        var x = LogitsTensor();
        long[] targets = { 0, 1, -100, 2 };
        var t = tensor(targets);
        var nll = Logits.Select((r, i) => targets[i] < 0 ? double.NaN : -LogSoftmax(r)[targets[i]]).ToArray();
        var kept = nll.Where(v => !double.IsNaN(v)).ToArray();
        functional.cross_entropy(x, t).item<double>().Should().BeApproximately(kept.Average(), 1e-12);
        functional.cross_entropy(x, t, reduction: Reduction.Sum).item<double>().Should().BeApproximately(kept.Sum(), 1e-12);
        ShouldBeClose(Values(functional.cross_entropy(x, t, reduction: Reduction.None)), nll.Select(v => double.IsNaN(v) ? 0 : v).ToArray(), 1e-12);

        // A custom ignore index: target 2 is skipped instead, −100 is then out of range.
        var t2 = tensor(new long[] { 0, 1, 1, 2 });
        var nll2 = new[] { -LogSoftmax(Logits[0])[0], -LogSoftmax(Logits[1])[1], -LogSoftmax(Logits[2])[1] };
        functional.cross_entropy(x, t2, ignore_index: 2).item<double>().Should().BeApproximately(nll2.Average(), 1e-12);
    }

    [Fact]
    public void CrossEntropyWithClassWeightsIsTheWeightedMean()
    {
        var x = LogitsTensor();
        long[] targets = { 0, 1, 2, 2 };
        double[] w = { 1, 2, 0.5 };
        double num = 0, den = 0;
        for (int i = 0; i < 4; i++) {
            num += w[targets[i]] * -LogSoftmax(Logits[i])[targets[i]];
            den += w[targets[i]];
        }
        functional.cross_entropy(x, tensor(targets), weight: tensor(w)).item<double>().Should().BeApproximately(num / den, 1e-12);
    }

    [Fact]
    public void CrossEntropyWithLabelSmoothingMixesInTheUniformTarget()
    {
        var x = LogitsTensor();
        long[] targets = { 0, 1, 2, 2 };
        const double eps = 0.1;
        var expected = Logits.Select((r, i) => {
            var lp = LogSoftmax(r);
            return (1 - eps) * -lp[targets[i]] + eps * -lp.Average();
        }).Average();
        functional.cross_entropy(x, tensor(targets), label_smoothing: eps).item<double>().Should().BeApproximately(expected, 1e-12);
    }

    [Fact]
    public void CrossEntropyGradientIsSoftmaxMinusOneHotOverN()
    {
        var x = LogitsTensor().requires_grad_();
        long[] targets = { 0, 1, 2, 2 };
        functional.cross_entropy(x, tensor(targets)).backward();
        var expected = new List<double>();
        for (int i = 0; i < 4; i++) {
            var p = LogSoftmax(Logits[i]).Select(Math.Exp).ToArray();
            for (int c = 0; c < 3; c++) expected.Add((p[c] - (c == targets[i] ? 1 : 0)) / 4);
        }
        ShouldBeClose(Values(x.grad!), expected.ToArray(), 1e-12);
    }

    [Fact]
    public void MseLossReductions()
    {
        var a = tensor(new double[] { 1, 2, 3 });
        var b = tensor(new double[] { 2, 2, 5 });
        functional.mse_loss(a, b).item<double>().Should().BeApproximately(5.0 / 3, 1e-12);
        functional.mse_loss(a, b, Reduction.Sum).item<double>().Should().Be(5);
        Values(functional.mse_loss(a, b, Reduction.None)).Should().Equal(1, 0, 4);
        ((long)Reduction.None).Should().Be(0);
        ((long)Reduction.Mean).Should().Be(1);
        ((long)Reduction.Sum).Should().Be(2);
    }

    [Fact]
    public void LayerNormFunctionalWithWeightAndBias()
    {
        var x = tensor(new double[] { 0, 2, 4, 6 }, new long[] { 2, 2 });
        var w = tensor(new double[] { 2, 3 });
        var b = tensor(new double[] { 1, -1 });
        var n = 1 / Math.Sqrt(1 + 1e-5);   // each row has mean ±1 away, biased variance 1
        ShouldBeClose(Values(functional.layer_norm(x, new long[] { 2 }, w, b)), new[] { -2 * n + 1, 3 * n - 1, -2 * n + 1, 3 * n - 1 }, 1e-12);
        ShouldBeClose(Values(functional.layer_norm(x, new long[] { 2 }, eps: 0)), new double[] { -1, 1, -1, 1 }, 1e-12);
    }

    [Fact]
    public void DropoutFunctional()
    {
        manual_seed(4);
        var x = ones(1000, dtype: ScalarType.Float64);
        Values(functional.dropout(x, 0.5, training: false)).Should().OnlyContain(v => v == 1);
        var y = Values(functional.dropout(x, 0.5));
        y.Should().OnlyContain(v => v == 0 || v == 2);
        Values(functional.dropout(x, 1.0)).Should().OnlyContain(v => v == 0);
        var act = () => functional.dropout(x, 1.5);
        act.Should().Throw<ExternalException>().WithMessage("*between 0 and 1*");
        var z = ones(100);
        functional.dropout(z, 0.5, inplace: true);
        Values(z).Should().OnlyContain(v => v == 0 || v == 2);
    }

    [Fact]
    public void ActivationFunctionals()
    {
        var x = tensor(new double[] { -1, 0, 1 });
        ShouldBeClose(Values(functional.gelu(x)), new[] { -0.15865525393145707, 0, 0.8413447460685429 }, 1e-12);
        Values(functional.relu(x)).Should().Equal(0, 0, 1);
        ShouldBeClose(Values(functional.tanh(x)), new[] { Math.Tanh(-1), 0, Math.Tanh(1) }, 1e-12);
        var y = x.clone();
        functional.relu(y, inplace: true);
        Values(y).Should().Equal(0, 0, 1);
        functional.gelu(x.clone(), inplace: true).shape.Should().Equal(3);
    }

    [Fact]
    public void InitFillersAndDistributions()
    {
        manual_seed(8);
        var p = nn.Parameter(empty(200, 100));   // requires grad: the initialisers work without recording
        init.ones_(p).Should().BeSameAs(p);
        Values(p).Should().OnlyContain(v => v == 1);
        init.zeros_(p);
        Values(p).Should().OnlyContain(v => v == 0);
        init.constant_(p, 2.5);
        Values(p).Should().OnlyContain(v => v == 2.5);
        init.uniform_(p, -0.5, 0.25);
        Values(p).Should().OnlyContain(v => v >= -0.5 && v <= 0.25);
        init.normal_(p, 3, 0.5);
        p.mean().item<float>().Should().BeApproximately(3, 0.02f);
        p.std().item<float>().Should().BeApproximately(0.5f, 0.02f);
        p.requires_grad.Should().BeTrue();
        p.grad.Should().BeNull();

        init.trunc_normal_(p, 0, 1, -1, 0.5);
        Values(p).Should().OnlyContain(v => v >= -1 && v <= 0.5);

        // Kaiming uniform, fan_in 100, a = 0 (leaky ReLU gain √2): bound = √2·√(3/100).
        init.kaiming_uniform_(p);
        var bound = Math.Sqrt(2) * Math.Sqrt(3.0 / 100);
        Values(p).Should().OnlyContain(v => Math.Abs(v) <= bound + 1e-7);
        Values(p).Max().Should().BeGreaterThan(0.9 * bound);
        init.kaiming_uniform_(p, a: Math.Sqrt(5), mode: init.FanInOut.FanOut);
        Values(p).Should().OnlyContain(v => Math.Abs(v) <= 1 / Math.Sqrt(200) + 1e-7);
        init.kaiming_normal_(p, nonlinearity: init.NonlinearityType.ReLU);
        p.std().item<float>().Should().BeApproximately((float)(Math.Sqrt(2) / 10), 0.005f);

        init.xavier_uniform_(p, gain: 2);
        var xb = 2 * Math.Sqrt(6.0 / 300);
        Values(p).Should().OnlyContain(v => Math.Abs(v) <= xb + 1e-7);
        init.glorot_uniform_(p);
        init.xavier_normal_(p);       // TorchSharp 0.105.1 draws this from the uniform distribution too
        Values(p).Should().OnlyContain(v => Math.Abs(v) <= Math.Sqrt(6.0 / 300) + 1e-7);
        init.glorot_normal_(p);
    }

    [Fact]
    public void InitGainFanAndEye()
    {
        init.calculate_gain(init.NonlinearityType.Linear).Should().Be(1);
        init.calculate_gain(init.NonlinearityType.Sigmoid).Should().Be(1);
        init.calculate_gain(init.NonlinearityType.Tanh).Should().BeApproximately(5.0 / 3, 1e-15);
        init.calculate_gain(init.NonlinearityType.ReLU).Should().BeApproximately(Math.Sqrt(2), 1e-15);
        init.calculate_gain(init.NonlinearityType.LeakyReLU, 0.2).Should().BeApproximately(Math.Sqrt(2 / 1.04), 1e-15);
        init.CalculateFanInAndFanOut(empty(3, 4)).Should().Be((4L, 3L));
        init.CalculateFanInAndFanOut(empty(new long[] { 8, 2, 3, 5 })).Should().Be((30L, 120L));
        var act = () => init.CalculateFanInAndFanOut(empty(3));
        act.Should().Throw<ArgumentException>();
        var e = nn.Parameter(empty(2, 3));
        init.eye_(e);
        Values(e).Should().Equal(1, 0, 0, 0, 1, 0);
    }
}
