using System.IO;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace TorchSharp.Binding.Tests;

/// Optimizers against their update rules, computed here in plain double arithmetic.
[Collection("libtorch")]
public class OptimizerTests
{
    const int Digits = 12;

    static Parameter Param(params double[] v) => nn.Parameter(tensor(v, dtype: ScalarType.Float64));

    static void SetGrad(Tensor p, params double[] g) => p.grad = tensor(g, dtype: ScalarType.Float64);

    static double[] Values(Tensor t) => t.detach().data<double>().ToArray();

    static void ShouldEqual(double[] actual, double[] expected)
    {
        actual.Should().HaveCount(expected.Length);
        for (int i = 0; i < expected.Length; i++) actual[i].Should().BeApproximately(expected[i], 1e-12, $"element {i}");
    }

    static readonly double[][] Grads = { new[] { 0.5, -0.1 }, new[] { -0.25, 0.3 }, new[] { 0.125, 0.2 }, new[] { 0.4, -0.05 } };

    // ---- SGD ------------------------------------------------------------------------------

    /// SGD by definition: d = g + λp; buf₁ = d, buf = μ·buf + (1 − τ)·d; step = buf (Nesterov: d + μ·buf); p ∓= lr·step.
    static double[][] SgdReference(double[] x0, double lr, double mu, double tau, double wd, bool nesterov, bool maximize)
    {
        var x = (double[])x0.Clone();
        var buf = new double[x.Length];
        var result = new List<double[]>();
        for (int t = 0; t < Grads.Length; t++) {
            for (int i = 0; i < x.Length; i++) {
                var d = Grads[t][i] + wd * x[i];
                if (mu != 0) {
                    buf[i] = t == 0 ? d : mu * buf[i] + (1 - tau) * d;
                    d = nesterov ? d + mu * buf[i] : buf[i];
                }
                x[i] += maximize ? lr * d : -lr * d;
            }
            result.Add((double[])x.Clone());
        }
        return result.ToArray();
    }

    [Theory]
    [InlineData(0.1, 0.0, 0.0, 0.0, false, false)]
    [InlineData(0.1, 0.9, 0.0, 0.0, false, false)]
    [InlineData(0.05, 0.8, 0.3, 0.0, false, false)]
    [InlineData(0.1, 0.9, 0.0, 0.01, false, false)]
    [InlineData(0.1, 0.9, 0.0, 0.0, true, false)]
    [InlineData(0.1, 0.9, 0.0, 0.02, true, false)]
    [InlineData(0.1, 0.5, 0.0, 0.0, false, true)]
    public void SgdFollowsItsUpdateRule(double lr, double mu, double tau, double wd, bool nesterov, bool maximize)
    {
        double[] x0 = { 1.0, -2.0 };
        var p = Param(x0);
        var opt = optim.SGD(new[] { p }, lr, mu, tau, wd, nesterov, maximize);
        var expected = SgdReference(x0, lr, mu, tau, wd, nesterov, maximize);
        for (int t = 0; t < Grads.Length; t++) {
            SetGrad(p, Grads[t]);
            opt.step();
            ShouldEqual(Values(p), expected[t]);
        }
    }

    [Fact]
    public void SgdMomentumBufferStartsAsTheFirstGradient()
    {
        var p = Param(0.0);
        var opt = optim.SGD(new[] { p }, 1.0, momentum: 0.9, dampening: 0.5);
        SetGrad(p, 2.0);
        opt.step();
        var state = (SGD.State)opt.state_dict().State[0];
        Values(state.momentum_buffer).Should().Equal(2.0);   // not (1 − τ)·g
        Values(p).Should().Equal(-2.0);
    }

    [Fact]
    public void SgdValidatesItsArguments()
    {
        var p = Param(1.0);
        FluentActions.Invoking(() => optim.SGD(new[] { p }, -0.1)).Should().Throw<ArgumentException>();
        FluentActions.Invoking(() => optim.SGD(new[] { p }, 0.1, momentum: -1)).Should().Throw<ArgumentException>();
        FluentActions.Invoking(() => optim.SGD(new[] { p }, 0.1, weight_decay: -1)).Should().Throw<ArgumentException>();
        FluentActions.Invoking(() => optim.SGD(new[] { p }, 0.1, nesterov: true)).Should().Throw<ArgumentException>();
        FluentActions.Invoking(() => optim.SGD(new[] { p }, 0.1, momentum: 0.9, dampening: 0.1, nesterov: true)).Should().Throw<ArgumentException>();
    }

    [Fact]
    public void NamedParameterOverloadsIgnoreTheNames()
    {
        var p = Param(1.0);
        var named = new[] { (name: "w", parameter: p) };
        foreach (var opt in new optim.Optimizer[] { optim.SGD(named, 0.5), optim.Adam(named, 0.5), optim.AdamW(named, 0.5) })
            opt.parameters().Should().ContainSingle().Which.Should().BeSameAs(p);
        var sgd = optim.SGD(named, 0.5);
        SetGrad(p, 1.0);
        sgd.step();
        Values(p).Should().Equal(0.5);
    }

    // ---- Adam and AdamW ----------------------------------------------------------------------

    /// Adam by definition (Kingma & Ba, with PyTorch's L2 and AMSGrad variants; AdamW's decoupled decay).
    static double[][] AdamReference(double[] x0, double lr, double b1, double b2, double eps, double wd, bool amsgrad, bool maximize, bool decoupled)
    {
        var x = (double[])x0.Clone();
        var m = new double[x.Length];
        var v = new double[x.Length];
        var vmax = new double[x.Length];
        var result = new List<double[]>();
        for (int t = 1; t <= Grads.Length; t++) {
            for (int i = 0; i < x.Length; i++) {
                var g = maximize ? -Grads[t - 1][i] : Grads[t - 1][i];
                if (decoupled) x[i] -= lr * wd * x[i];
                else g += wd * x[i];
                m[i] = b1 * m[i] + (1 - b1) * g;
                v[i] = b2 * v[i] + (1 - b2) * g * g;
                vmax[i] = Math.Max(vmax[i], v[i]);
                var mhat = m[i] / (1 - Math.Pow(b1, t));
                var vhat = (amsgrad ? vmax[i] : v[i]) / (1 - Math.Pow(b2, t));
                x[i] -= lr * mhat / (Math.Sqrt(vhat) + eps);
            }
            result.Add((double[])x.Clone());
        }
        return result.ToArray();
    }

    static optim.Optimizer MakeAdam(bool decoupled, IEnumerable<Parameter> ps, double lr, double b1, double b2, double eps, double wd, bool amsgrad, bool maximize) =>
        decoupled ? optim.AdamW(ps, lr, b1, b2, eps, wd, amsgrad, maximize) : optim.Adam(ps, lr, b1, b2, eps, wd, amsgrad, maximize);

    [Theory]
    [InlineData(false, 0.1, 0.9, 0.999, 1e-8, 0.0, false, false)]
    [InlineData(false, 0.05, 0.8, 0.99, 1e-6, 0.1, false, false)]
    [InlineData(false, 0.1, 0.9, 0.9, 1e-8, 0.0, true, false)]
    [InlineData(false, 0.1, 0.9, 0.999, 1e-8, 0.01, false, true)]
    [InlineData(true, 0.1, 0.9, 0.999, 1e-8, 0.0, false, false)]
    [InlineData(true, 0.05, 0.8, 0.99, 1e-6, 0.1, false, false)]
    [InlineData(true, 0.1, 0.9, 0.9, 1e-8, 0.05, true, false)]
    [InlineData(true, 0.1, 0.9, 0.999, 1e-8, 0.01, false, true)]
    public void AdamAndAdamWFollowTheirUpdateRules(bool decoupled, double lr, double b1, double b2, double eps, double wd, bool amsgrad, bool maximize)
    {
        double[] x0 = { 1.0, -2.0 };
        var p = Param(x0);
        var opt = MakeAdam(decoupled, new[] { p }, lr, b1, b2, eps, wd, amsgrad, maximize);
        var expected = AdamReference(x0, lr, b1, b2, eps, wd, amsgrad, maximize, decoupled);
        for (int t = 0; t < Grads.Length; t++) {
            SetGrad(p, Grads[t]);
            opt.step();
            ShouldEqual(Values(p), expected[t]);
        }
    }

    [Fact]
    public void AmsgradMattersWhenTheSecondMomentShrinks()
    {
        // With β₂ = 0.9 the gradients (0.5, 0.125, …) make v fall after step 1, so AMSGrad's maximum differs.
        var plain = AdamReference(new[] { 1.0, -2.0 }, 0.1, 0.9, 0.9, 1e-8, 0, false, false, false);
        var ams = AdamReference(new[] { 1.0, -2.0 }, 0.1, 0.9, 0.9, 1e-8, 0, true, false, false);
        Math.Abs(plain[^1][0] - ams[^1][0]).Should().BeGreaterThan(1e-6);
    }

    [Fact]
    public void AdamStateHoldsStepCountAndMoments()
    {
        var p = Param(1.0);
        var opt = optim.Adam(new[] { p }, 0.1, 0.9, 0.99);
        SetGrad(p, 2.0); opt.step();
        SetGrad(p, -1.0); opt.step();
        var s = (Adam.State)opt.state_dict().State[0];
        s.step.Should().Be(2);
        Values(s.exp_avg)[0].Should().BeApproximately(0.9 * (0.1 * 2.0) + 0.1 * -1.0, 1e-15);
        Values(s.exp_avg_sq)[0].Should().BeApproximately(0.99 * (0.01 * 4.0) + 0.01 * 1.0, 1e-15);
        s.max_exp_avg_sq.Should().BeNull();
        s.exp_avg.requires_grad.Should().BeFalse();
    }

    [Fact]
    public void AdamWWeightDecayDefaultsToZeroAndAdamsToo()
    {
        foreach (var decoupled in new[] { false, true }) {
            var p = Param(3.0);
            var opt = decoupled ? (optim.Optimizer)optim.AdamW(new[] { p }, lr: 0.1) : optim.Adam(new[] { p }, lr: 0.1);
            SetGrad(p, 1.0);
            opt.step();
            // m̂ = 1, v̂ = 1: p = 3 − 0.1·1/(1 + 1e-8), no decay
            Values(p)[0].Should().BeApproximately(3.0 - 0.1 / (1.0 + 1e-8), 1e-15);
        }
    }

    [Fact]
    public void AdamDefaultsMatchTorchSharp()
    {
        var p = Param(1.0);
        var adam = optim.Adam(new[] { p });
        var o = (Adam.Options)adam.state_dict().Options[0];
        (o.LearningRate, o.beta1, o.beta2, o.eps, o.weight_decay, o.amsgrad, o.maximize).Should().Be((1e-3, 0.9, 0.999, 1e-8, 0.0, false, false));
        adam.Betas.Should().Be((0.9, 0.999));
        var w = (AdamW.Options)optim.AdamW(new[] { p }).state_dict().Options[0];
        (w.LearningRate, w.beta1, w.beta2, w.eps, w.weight_decay, w.amsgrad, w.maximize).Should().Be((1e-3, 0.9, 0.999, 1e-8, 0.0, false, false));
        var sgd = optim.SGD(new[] { p }, 0.1);
        var so = (SGD.Options)sgd.state_dict().Options[0];
        (so.momentum, so.dampening, so.weight_decay, so.nesterov, so.maximize).Should().Be((0.0, 0.0, 0.0, false, false));
        sgd.Momentum.Should().Be(0);
    }

    [Fact]
    public void AdamValidatesItsArguments()
    {
        var p = Param(1.0);
        foreach (var decoupled in new[] { false, true }) {
            FluentActions.Invoking(() => MakeAdam(decoupled, new[] { p }, -1, 0.9, 0.999, 1e-8, 0, false, false)).Should().Throw<ArgumentException>();
            FluentActions.Invoking(() => MakeAdam(decoupled, new[] { p }, 0.1, 1.0, 0.999, 1e-8, 0, false, false)).Should().Throw<ArgumentException>();
            FluentActions.Invoking(() => MakeAdam(decoupled, new[] { p }, 0.1, 0.9, -0.1, 1e-8, 0, false, false)).Should().Throw<ArgumentException>();
            FluentActions.Invoking(() => MakeAdam(decoupled, new[] { p }, 0.1, 0.9, 0.999, -1, 0, false, false)).Should().Throw<ArgumentException>();
            FluentActions.Invoking(() => MakeAdam(decoupled, new[] { p }, 0.1, 0.9, 0.999, 1e-8, -1, false, false)).Should().Throw<ArgumentException>();
        }
    }

    // ---- zero_grad, skipping and freezing ---------------------------------------------------

    [Fact]
    public void ZeroGradZeroesInPlaceAndLeavesNullGradsNull()
    {
        var a = Param(1.0, 2.0);
        var b = Param(3.0);
        var opt = optim.SGD(new[] { a, b }, 0.1);
        SetGrad(a, 5.0, -6.0);
        var before = a.grad!;
        opt.zero_grad();
        Values(before).Should().Equal(0.0, 0.0);   // the tensor we held was zeroed: in place
        a.grad.Should().NotBeNull();
        Values(a.grad!).Should().Equal(0.0, 0.0);
        b.grad.Should().BeNull();
    }

    [Theory]
    [InlineData("sgd")]
    [InlineData("adam")]
    [InlineData("adamw")]
    public void ParametersWithoutGradAreSkippedAndResumeWhereTheyLeftOff(string kind)
    {
        var a = Param(1.0);
        var b = Param(1.0);
        optim.Optimizer opt = kind switch {
            "sgd" => optim.SGD(new[] { a, b }, 0.1, momentum: 0.9),
            "adam" => optim.Adam(new[] { a, b }, 0.1),
            _ => optim.AdamW(new[] { a, b }, 0.1, weight_decay: 0.5),
        };
        SetGrad(a, 1.0);
        opt.step();
        Values(b).Should().Equal(1.0);    // grad null: untouched, even by weight decay
        if (opt is Adam adam) ((Adam.State)adam.state_dict().State[1]).step.Should().Be(0);
        if (opt is AdamW adamw) ((AdamW.State)adamw.state_dict().State[1]).step.Should().Be(0);
        if (opt is SGD sgd) ((SGD.State)sgd.state_dict().State[1]).momentum_buffer.Should().BeNull();
        SetGrad(b, 1.0);
        opt.step();
        Values(b).Should().NotEqual(new[] { 1.0 });
    }

    [Theory]
    [InlineData("sgd")]
    [InlineData("adam")]
    [InlineData("adamw")]
    public void RequiresGradFalseWithAGradStillMoves(string kind)
    {
        var p = Param(1.0);
        optim.Optimizer opt = kind switch {
            "sgd" => optim.SGD(new[] { p }, 0.1, momentum: 0.9),
            "adam" => optim.Adam(new[] { p }, 0.1),
            _ => optim.AdamW(new[] { p }, 0.1),
        };
        SetGrad(p, 1.0);
        opt.step();
        opt.zero_grad();
        p.requires_grad = false;
        var before = Values(p)[0];
        opt.step();   // zero gradient, but momentum / moments keep it moving
        Values(p)[0].Should().BeLessThan(before);
        p.grad = null;
        var frozen = Values(p)[0];
        opt.step();
        Values(p)[0].Should().Be(frozen);
    }

    [Fact]
    public void FrozenAdamResumesWithItsStepCountAndMoments()
    {
        // Freeze after step 1 for two steps, then train: the reference is Adam that never saw those steps.
        double lr = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8;
        var p = Param(1.0);
        var opt = optim.Adam(new[] { p }, lr, b1, b2, eps);
        SetGrad(p, 0.5); opt.step();
        p.grad = null; opt.step(); opt.step();
        SetGrad(p, -0.25); opt.step();
        double x = 1.0, m = 0, v = 0;
        double[] g = { 0.5, -0.25 };
        for (int t = 1; t <= 2; t++) {
            m = b1 * m + (1 - b1) * g[t - 1];
            v = b2 * v + (1 - b2) * g[t - 1] * g[t - 1];
            x -= lr * (m / (1 - Math.Pow(b1, t))) / (Math.Sqrt(v / (1 - Math.Pow(b2, t))) + eps);
        }
        Values(p)[0].Should().BeApproximately(x, 1e-12);
    }

    // ---- state dictionaries ------------------------------------------------------------------

    [Theory]
    [InlineData("sgd")]
    [InlineData("adam")]
    [InlineData("adam-amsgrad")]
    [InlineData("adamw")]
    public void StateDictRoundTripContinuesExactly(string kind)
    {
        optim.Optimizer Make(Parameter p) => kind switch {
            "sgd" => optim.SGD(new[] { p }, 0.1, momentum: 0.9, weight_decay: 0.01),
            "adam" => optim.Adam(new[] { p }, 0.05, weight_decay: 0.1),
            "adam-amsgrad" => optim.Adam(new[] { p }, 0.05, beta2: 0.9, amsgrad: true),
            _ => optim.AdamW(new[] { p }, 0.05, weight_decay: 0.1),
        };
        var a = Param(1.0, 2.0);
        var b = Param(1.0, 2.0);
        var optA = Make(a);
        var optB = (OptimizerHelper)Make(b);
        foreach (var g in Grads.Take(2)) {
            SetGrad(a, g); optA.step();
            SetGrad(b, g); optB.step();
        }
        var c = nn.Parameter(b.detach().clone());
        var optC = (OptimizerHelper)Make(c);
        optC.load_state_dict(optB.state_dict());
        foreach (var g in Grads.Skip(2)) {
            SetGrad(a, g); optA.step();
            SetGrad(c, g); optC.step();
        }
        Values(c).Should().Equal(Values(a));
    }

    [Fact]
    public void LoadedStateIsACopy()
    {
        var b = Param(1.0);
        var optB = optim.Adam(new[] { b }, 0.1);
        SetGrad(b, 1.0); optB.step();
        var c = nn.Parameter(b.detach().clone());
        var optC = optim.Adam(new[] { c }, 0.1);
        optC.load_state_dict(optB.state_dict());
        SetGrad(b, 5.0); optB.step();   // changes B's moments in place
        var sc = (Adam.State)optC.state_dict().State[0];
        sc.step.Should().Be(1);
        Values(sc.exp_avg)[0].Should().BeApproximately(0.1, 1e-15);
        sc.exp_avg.Handle.Should().NotBe(((Adam.State)optB.state_dict().State[0]).exp_avg.Handle);
    }

    [Fact]
    public void LoadStateDictCopiesTheOptions()
    {
        var b = Param(1.0);
        var optB = optim.SGD(new[] { b }, 0.3, momentum: 0.5);
        optB.ParamGroups.Single().LearningRate = 0.2;
        SetGrad(b, 1.0); optB.step();
        var optC = optim.SGD(new[] { Param(1.0) }, 0.1);
        optC.load_state_dict(optB.state_dict());
        var o = (SGD.Options)optC.state_dict().Options[0];
        (o.LearningRate, o.InitialLearningRate, o.momentum).Should().Be((0.2, 0.3, 0.5));
    }

    [Fact]
    public void StateDictListsGroupsAndParametersInOrder()
    {
        var (a, b, c) = (Param(1.0), Param(2.0), Param(3.0));
        var opt = optim.Adam(new[] { new Adam.ParamGroup(new[] { a, b }, lr: 0.1), new Adam.ParamGroup(new[] { c }, lr: 0.2) });
        var sd = opt.state_dict();
        sd.Options.Select(o => o.LearningRate).Should().Equal(0.1, 0.2);
        sd.State.Should().HaveCount(3);
        sd.StateIndexRef.Should().HaveCount(2);
        sd.StateIndexRef[0].Should().Equal(0, 1);
        sd.StateIndexRef[1].Should().Equal(2);
        Values(((Adam.State)sd.State[2]).exp_avg).Should().Equal(0.0);
    }

    [Fact]
    public void LoadStateDictRejectsADifferentShape()
    {
        var opt1 = optim.Adam(new[] { Param(1.0), Param(2.0) });
        var opt2 = optim.Adam(new[] { Param(1.0) });
        FluentActions.Invoking(() => opt2.load_state_dict(opt1.state_dict())).Should().Throw<ArgumentException>();
    }

    [Fact]
    public void SgdStateFromAnOptimizerThatNeverSteppedThrowsLikeTorchSharp()
    {
        // TorchSharp 0.105.1 copies the source's momentum buffer without a null check.
        var optB = optim.SGD(new[] { Param(1.0) }, 0.1, momentum: 0.9);
        var optC = optim.SGD(new[] { Param(1.0) }, 0.1, momentum: 0.9);
        FluentActions.Invoking(() => optC.load_state_dict(optB.state_dict())).Should().Throw<NullReferenceException>();
    }

    [Theory]
    [InlineData("sgd")]
    [InlineData("adam-amsgrad")]
    [InlineData("adamw")]
    public void SavedStateStreamsRoundTrip(string kind)
    {
        OptimizerHelper Make(Parameter p) => kind switch {
            "sgd" => optim.SGD(new[] { p }, 0.1, momentum: 0.9),
            "adam-amsgrad" => optim.Adam(new[] { p }, 0.05, beta2: 0.9, amsgrad: true),
            _ => optim.AdamW(new[] { p }, 0.05, weight_decay: 0.1),
        };
        var a = Param(1.0, 2.0);
        var optA = Make(a);
        foreach (var g in Grads.Take(2)) { SetGrad(a, g); optA.step(); }
        var path = Path.Combine(Path.GetTempPath(), $"vf-opt-{Guid.NewGuid():N}.bin");
        try {
            optA.save_state_dict(path);
            var c = nn.Parameter(a.detach().clone());
            var optC = Make(c);
            optC.load_state_dict(path);
            foreach (var g in Grads.Skip(2)) {
                SetGrad(a, g); optA.step();
                SetGrad(c, g); optC.step();
            }
            Values(c).Should().Equal(Values(a));
        } finally {
            File.Delete(path);
        }
    }

    [Fact]
    public void SavedStateStreamFormatIsTorchSharps()
    {
        var p = Param(1.5);
        var opt = optim.SGD(new[] { p }, 0.25, momentum: 0.5);
        SetGrad(p, 2.0); opt.step();
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true)) opt.save_state_dict(w);
        using var r = new BinaryReader(new MemoryStream(ms.ToArray()));
        r.ReadString().Should().Be("SGD");
        r.ReadByte().Should().Be(1);   // groups (LEB128)
        r.ReadByte().Should().Be(1);   // states
        (r.ReadDouble(), r.ReadDouble(), r.ReadDouble(), r.ReadDouble(), r.ReadDouble(), r.ReadBoolean(), r.ReadBoolean())
            .Should().Be((0.25, 0.25, 0.5, 0.0, 0.0, false, false));
        r.ReadBoolean().Should().BeTrue();   // has a momentum buffer
        r.ReadByte().Should().Be((byte)ScalarType.Float64);
        r.ReadByte().Should().Be(1);   // rank
        r.ReadByte().Should().Be(1);   // dim 0
        r.ReadDouble().Should().Be(2.0);
        r.BaseStream.Position.Should().Be(r.BaseStream.Length);
    }

    [Fact]
    public void LoadingAnotherOptimizersStreamThrows()
    {
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, System.Text.Encoding.UTF8, leaveOpen: true)) optim.SGD(new[] { Param(1.0) }, 0.1).save_state_dict(w);
        ms.Position = 0;
        using var r = new BinaryReader(ms);
        FluentActions.Invoking(() => optim.Adam(new[] { Param(1.0) }).load_state_dict(r)).Should().Throw<InvalidDataException>();
    }

    // ---- parameter groups, learning rates, closures, lifetime ----------------------------------------

    [Fact]
    public void ParamGroupsHaveTheirOwnOptionsAndTakeDefaultsForUnsetOnes()
    {
        var a = Param(1.0);
        var b = Param(1.0);
        var groups = new[] {
            new SGD.ParamGroup(new[] { a }, lr: 0.5),
            new SGD.ParamGroup { Parameters = new[] { b }, Options = new SGD.Options { momentum = 0.9 } },
        };
        var opt = optim.SGD(groups, 0.1, momentum: 0.0, weight_decay: 0.25);
        var o1 = groups[1].Options;
        (o1.LearningRate, o1.momentum, o1.weight_decay, o1.InitialLearningRate).Should().Be((0.1, 0.9, 0.25, 0.1));
        groups[0].Options.weight_decay.Should().Be(0);   // set by the group's own constructor
        groups[1].Momentum.Should().Be(0.9);
        SetGrad(a, 1.0); SetGrad(b, 1.0);
        opt.step();
        Values(a).Should().Equal(1.0 - 0.5 * 1.0);
        Values(b)[0].Should().BeApproximately(1.0 - 0.1 * (1.0 + 0.25 * 1.0), 1e-15);
    }

    [Fact]
    public void AddParamGroupAddsParametersWithFreshState()
    {
        var a = Param(1.0);
        var b = Param(1.0);
        var opt = optim.Adam(new[] { a }, 0.1);
        opt.add_param_group(new Adam.ParamGroup(new[] { b }, lr: 0.2));
        opt.parameters().Should().Equal(a, b);
        opt.ParamGroups.Select(g => g.LearningRate).Should().Equal(0.1, 0.2);
        SetGrad(b, 1.0);
        opt.step();
        Values(b)[0].Should().BeApproximately(1.0 - 0.2 / (1 + 1e-8), 1e-15);
    }

    [Fact]
    public void LearningRateIsReadAndSetThroughParamGroups()
    {
        var p = Param(1.0);
        var opt = optim.SGD(new[] { p }, 0.1);
        var group = opt.ParamGroups.Single();
        (group.LearningRate, group.InitialLearningRate).Should().Be((0.1, 0.1));
        group.LearningRate = 0.5;
        SetGrad(p, 1.0);
        opt.step();
        Values(p).Should().Equal(0.5);
        group.InitialLearningRate.Should().Be(0.1);
    }

    [Fact]
    public void BetasAndMomentumPropertiesAreTheDefaults()
    {
        var p = Param(1.0);
        var adamw = optim.AdamW(new[] { p }, 0.1, 0.8, 0.9);
        adamw.Betas.Should().Be((0.8, 0.9));
        adamw.Betas = (0.7, 0.95);
        adamw.Betas.Should().Be((0.7, 0.95));
        new AdamW.ParamGroup(new[] { p }, beta1: 0.5, beta2: 0.6).Betas.Should().Be((0.5, 0.6));
        var sgd = optim.SGD(new[] { p }, 0.1, momentum: 0.3);
        sgd.Momentum.Should().Be(0.3);
        sgd.Should().BeAssignableTo<optim.IMomentum>();
        adamw.Should().BeAssignableTo<optim.IBetas>();
    }

    [Fact]
    public void StepRunsTheClosureWithGradEnabledAndReturnsItsLoss()
    {
        var p = Param(3.0);
        var opt = optim.SGD(new[] { p }, 0.1);
        using (no_grad()) {
            var loss = opt.step(() => {
                opt.zero_grad();
                var l = (p * p).sum();   // d/dp p² = 2p = 6
                l.backward();
                return l;
            });
            loss!.item<double>().Should().Be(9.0);
        }
        Values(p).Should().Equal(3.0 - 0.1 * 6.0);
        opt.step().Should().BeNull();
    }

    [Fact]
    public void StepLeavesNothingInTheCallersDisposeScope()
    {
        var p = Param(1.0, 2.0);
        var opt = optim.AdamW(new[] { p }, 0.1, weight_decay: 0.1, amsgrad: true);
        SetGrad(p, 1.0, 1.0);
        using var scope = NewDisposeScope();
        var count = scope.DisposablesCount;
        opt.step();
        opt.step();
        opt.zero_grad();
        scope.DisposablesCount.Should().Be(count);
        p.requires_grad.Should().BeTrue();
        p.IsInvalid.Should().BeFalse();
    }

    [Fact]
    public void StateSurvivesTheDisposeScopeItWasCreatedIn()
    {
        var p = Param(1.0);
        Adam opt;
        using (NewDisposeScope()) {
            opt = optim.Adam(new[] { p }, 0.1, amsgrad: true);
            SetGrad(p, 1.0);
            opt.step();
        }
        var s = (Adam.State)opt.state_dict().State[0];
        s.exp_avg.IsInvalid.Should().BeFalse();
        s.max_exp_avg_sq!.IsInvalid.Should().BeFalse();
        opt.step();
        s.step.Should().Be(2);
    }

    [Fact]
    public void DisposeReleasesTheState()
    {
        var p = Param(1.0);
        var adam = optim.Adam(new[] { p }, 0.1);
        var s = (Adam.State)adam.state_dict().State[0];
        adam.Dispose();
        s.exp_avg.IsInvalid.Should().BeTrue();
        p.IsInvalid.Should().BeFalse();
        var sgd = optim.SGD(new[] { p }, 0.1, momentum: 0.9);
        SetGrad(p, 1.0); sgd.step();
        var buf = ((SGD.State)sgd.state_dict().State[0]).momentum_buffer;
        sgd.Dispose();
        buf.IsInvalid.Should().BeTrue();
    }

    [Fact]
    public void ParametersOfAGroupAreEnumeratedAtEachStep()
    {
        // TorchSharp keeps the enumerable it is given; a lazy one is re-read at every step.
        var a = Param(1.0);
        var list = new List<Parameter> { a };
        var opt = optim.SGD(list, 0.1);
        opt.parameters().Should().Equal(a);
        SetGrad(a, 1.0);
        opt.step();
        Values(a)[0].Should().BeApproximately(0.9, 1e-15);
    }

    [Fact]
    public void StateCanMoveToADevice()
    {
        var p = Param(1.0);
        var opt = optim.Adam(new[] { p }, 0.1);
        SetGrad(p, 1.0); opt.step();
        opt.to(CPU);
        var s = (Adam.State)opt.state_dict().State[0];
        s.exp_avg.device_type.Should().Be(DeviceType.CPU);
        opt.step();
        s.step.Should().Be(2);
    }

    [Fact]
    public void ApproximatelyEqualsComparesStates()
    {
        var (a, b) = (Param(1.0), Param(1.0));
        var (optA, optB) = (optim.Adam(new[] { a }, 0.1), optim.Adam(new[] { b }, 0.1));
        SetGrad(a, 1.0); optA.step();
        SetGrad(b, 1.0); optB.step();
        optA.state_dict().State[0].ApproximatelyEquals(optB.state_dict().State[0]).Should().BeTrue();
        SetGrad(b, 1.0); optB.step();
        optA.state_dict().State[0].ApproximatelyEquals(optB.state_dict().State[0]).Should().BeFalse();
    }
}
