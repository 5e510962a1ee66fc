using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.optim;

namespace TorchSharp.Binding.Tests;

/// LR schedulers against PyTorch's closed-form definitions: after construction the epoch is 0, and the
/// n-th call to step() moves to epoch n.
[Collection("libtorch")]
public class LrSchedulerTests
{
    static Parameter Param() => nn.Parameter(tensor(new[] { 1.0 }));

    static SGD Sgd(double lr) => optim.SGD(new[] { Param() }, lr);

    static double Lr(Optimizer opt) => opt.ParamGroups.First().LearningRate;

    /// Checks that the rate at epoch e (0 ≤ e ≤ epochs) is <paramref name="expected"/>(e), in the group and in get_last_lr().
    static void Follows(Optimizer opt, lr_scheduler.LRScheduler s, int epochs, Func<int, double> expected)
    {
        for (int e = 0; e <= epochs; e++) {
            if (e > 0) s.step();
            Lr(opt).Should().BeApproximately(expected(e), 1e-12, $"epoch {e}");
            s.get_last_lr().Single().Should().BeApproximately(expected(e), 1e-12, $"epoch {e}");
        }
    }

    [Fact]
    public void LambdaLRMultipliesTheBaseRate()
    {
        var opt = Sgd(0.1);
        Follows(opt, lr_scheduler.LambdaLR(opt, e => 1.0 / (e + 1)), 6, e => 0.1 / (e + 1));
    }

    [Fact]
    public void LambdaLRWarmupThenLinearDecay()
    {
        // The usual fine-tuning schedule: linear warm-up over 3 steps, then linear decay to 0 at step 10.
        static double F(int e) => e < 3 ? (double)e / 3 : Math.Max(0.0, (10.0 - e) / 7.0);
        var opt = Sgd(2e-5);
        Follows(opt, lr_scheduler.LambdaLR(opt, F), 12, e => 2e-5 * F(e));
    }

    [Fact]
    public void LambdaLRTakesOneFunctionPerGroup()
    {
        var opt = optim.SGD(new[] { new SGD.ParamGroup(new[] { Param() }, lr: 1.0), new SGD.ParamGroup(new[] { Param() }, lr: 0.5) }, 0.1);
        var s = new lr_scheduler.impl.LambdaLR(opt, new Func<int, double>[] { e => e, e => 2.0 * e });
        s.step(); s.step();
        opt.ParamGroups.Select(g => g.LearningRate).Should().Equal(2.0, 2.0);
        s.get_last_lr().Should().Equal(2.0, 2.0);
    }

    [Fact]
    public void MultiplicativeLRCompoundsTheFactor()
    {
        var opt = Sgd(1.0);
        // lr_e = base · Π_{k=1..e} 0.9
        Follows(opt, lr_scheduler.MultiplicativeLR(opt, _ => 0.9), 5, e => Math.Pow(0.9, e));
    }

    [Fact]
    public void StepLRDecaysEveryStepSizeEpochs()
    {
        var opt = Sgd(0.5);
        Follows(opt, lr_scheduler.StepLR(opt, 3, 0.1), 10, e => 0.5 * Math.Pow(0.1, e / 3));
    }

    [Fact]
    public void StepLRGammaDefaultsToOneTenth()
    {
        var opt = Sgd(1.0);
        Follows(opt, lr_scheduler.StepLR(opt, 2), 4, e => Math.Pow(0.1, e / 2));
    }

    [Fact]
    public void MultiStepLRDecaysAtMilestones()
    {
        var opt = Sgd(1.0);
        int[] milestones = { 2, 5 };
        Follows(opt, lr_scheduler.MultiStepLR(opt, milestones, 0.5), 8, e => Math.Pow(0.5, milestones.Count(m => m <= e)));
    }

    [Fact]
    public void ExponentialLRDecaysEveryEpoch()
    {
        var opt = Sgd(0.3);
        Follows(opt, lr_scheduler.ExponentialLR(opt, 0.9), 6, e => 0.3 * Math.Pow(0.9, e));
    }

    [Fact]
    public void ConstantLRScalesUntilTotalIters()
    {
        var opt = Sgd(0.3);
        Follows(opt, lr_scheduler.ConstantLR(opt, 0.5, 4), 7, e => e < 4 ? 0.15 : 0.3);
    }

    [Fact]
    public void ConstantLRDefaultsToAThirdForFiveEpochs()
    {
        var opt = Sgd(0.3);
        Follows(opt, lr_scheduler.ConstantLR(opt), 7, e => e < 5 ? 0.1 : 0.3);
    }

    [Theory]
    [InlineData(0.1, 1.0, 4)]
    [InlineData(1.0, 0.0, 5)]
    [InlineData(0.5, 0.25, 3)]
    public void LinearLRRampsTheFactor(double start, double end, int total)
    {
        var opt = Sgd(0.2);
        Follows(opt, lr_scheduler.LinearLR(opt, start, end, total), total + 3,
            e => 0.2 * (start + (end - start) * Math.Min(e, total) / total));
    }

    [Fact]
    public void LinearLRDefaultsFromAThirdToOneOverFive()
    {
        var opt = Sgd(0.3);
        Follows(opt, lr_scheduler.LinearLR(opt), 7, e => 0.3 * (1.0 / 3 + (2.0 / 3) * Math.Min(e, 5) / 5));
    }

    [Fact]
    public void PolynomialLRDecaysToZero()
    {
        var opt = Sgd(0.4);
        Follows(opt, lr_scheduler.PolynomialLR(opt, 4, 2.0), 6, e => 0.4 * Math.Pow(1 - Math.Min(e, 4) / 4.0, 2.0));
    }

    [Fact]
    public void CosineAnnealingLRFollowsTheCosine()
    {
        var opt = Sgd(1.0);
        Follows(opt, lr_scheduler.CosineAnnealingLR(opt, 6, 0.1), 6, e => 0.1 + 0.9 * (1 + Math.Cos(Math.PI * e / 6)) / 2);
    }

    [Fact]
    public void SequentialLRSwitchesAtTheMilestone()
    {
        var opt = Sgd(1.0);
        var warmup = lr_scheduler.LinearLR(opt, 0.25, 1.0, 3);
        var decay = lr_scheduler.ExponentialLR(opt, 0.5);
        var s = lr_scheduler.SequentialLR(opt, new[] { warmup, decay }, new[] { 3 });
        // epochs 0..2: 0.25 + 0.75·e/3; from epoch 3: the decay, restarted at its epoch 0: 0.5^(e − 3)
        Follows(opt, s, 7, e => e < 3 ? 0.25 + 0.75 * e / 3 : Math.Pow(0.5, e - 3));
    }

    [Fact]
    public void SequentialLRValidatesItsSchedulers()
    {
        var opt = Sgd(1.0);
        var other = Sgd(1.0);
        var a = lr_scheduler.ExponentialLR(opt, 0.5);
        var b = lr_scheduler.ExponentialLR(other, 0.5);
        FluentActions.Invoking(() => lr_scheduler.SequentialLR(opt, new[] { a, b }, new[] { 2 })).Should().Throw<ArgumentException>();
        FluentActions.Invoking(() => lr_scheduler.SequentialLR(opt, new[] { a }, new[] { 2 })).Should().Throw<ArgumentException>();
    }

    [Fact]
    public void ChainedLRAppliesEveryRule()
    {
        var opt = Sgd(1.0);
        var s = lr_scheduler.ChainedLR(new[] { lr_scheduler.ExponentialLR(opt, 0.9), lr_scheduler.StepLR(opt, 2, 0.5) });
        for (int e = 0; e <= 5; e++) {
            if (e > 0) s.step();
            Lr(opt).Should().BeApproximately(Math.Pow(0.9, e) * Math.Pow(0.5, e / 2), 1e-12);
        }
    }

    [Fact]
    public void StepWithAnEpochUsesTheClosedForm()
    {
        var opt = Sgd(1.0);
        var s = lr_scheduler.StepLR(opt, 2, 0.5);
        s.step(7);
        Lr(opt).Should().BeApproximately(Math.Pow(0.5, 3), 1e-15);
        s.step(2);
        Lr(opt).Should().BeApproximately(0.5, 1e-15);
        s.step(1.0, 4);   // the metric is ignored
        Lr(opt).Should().BeApproximately(0.25, 1e-15);
    }

    [Fact]
    public void SchedulersScaleTheInitialRateOfEachGroup()
    {
        var opt = optim.Adam(new[] { new Adam.ParamGroup(new[] { Param() }, lr: 1.0), new Adam.ParamGroup(new[] { Param() }, lr: 0.1) });
        var s = lr_scheduler.StepLR(opt, 1, 0.5);
        s.step();
        s.get_last_lr().Should().Equal(0.5, 0.05);
        opt.ParamGroups.Select(g => g.InitialLearningRate).Should().Equal(1.0, 0.1);
    }

    [Fact]
    public void TheScheduledRateDrivesTheUpdate()
    {
        var p = nn.Parameter(tensor(new[] { 0.0 }));
        var opt = optim.SGD(new[] { p }, 1.0);
        var s = lr_scheduler.LambdaLR(opt, e => 0.5 * (e + 1));
        double x = 0;
        for (int e = 0; e < 3; e++) {
            p.grad = tensor(new[] { 1.0 });
            opt.step();
            x -= 0.5 * (e + 1);
            s.step();
        }
        p.detach().data<double>()[0].Should().BeApproximately(x, 1e-15);
    }
}
