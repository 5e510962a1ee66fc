using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static VectorFit.Tests.TestTensors;

namespace VectorFit.Tests;

/// <summary>
/// Decided 4 of method §3: a frozen vector does not change at all between AVF steps, whatever the optimizer,
/// and trains again when it leaves the frozen set.
/// </summary>
[Collection("libtorch")]
public sealed class AvfFreezingTests
{
    [Theory]
    [InlineData("sgd-momentum")]
    [InlineData("adam")]
    [InlineData("adamw")]
    [InlineData("vectorfit-adamw")]
    public void FrozenVector_DoesNotMoveBetweenAvfSteps_AndResumesWhenUnfrozen(string optimizerName)
    {
        using var model = TwoLayerModel(out var first, out var second);
        using var x = Seeded(70, ScalarType.Float64, 8, 4);
        using var target = Seeded(71, ScalarType.Float64, 8, 2);
        // AVF steps 3 and 7, one vector frozen at each.
        var avf = AvfScheduler.FromModel(model, new AvfOptions { InitialStep = 3, Interval = 4, AvfSteps = 2, K = 1, Beta = 0.5 });
        using var optimizer = MakeOptimizer(optimizerName, avf.Vectors.Select(v => v.Kind == AvfVectorKind.Sigma ? ((VectorFitLinear)v.Layer).sigma : v.Layer.bias!));

        AvfVector? frozen = null;
        double[] frozenValue = [];
        var valuesAfter3 = new Dictionary<string, double[]>();
        for (var step = 1; step <= 10; step++)
        {
            TrainStep(model, optimizer, x, target);
            if (step == 3)
            {
                avf.Vectors.Should().OnlyContain(v => HasGradient(v), "every vector holds a gradient before the first AVF step, so clearing it matters");
            }

            if (step == 7)
            {
                // Make another vector the strongest, so that the frozen one leaves the set at AVF step 7.
                var other = avf.Vectors.First(v => v != frozen);
                Set(Parameter(other), Values(Parameter(other)).Select(v => v + 10).ToArray());
            }

            avf.step().Should().Be(step is 3 or 7);
            if (step == 3)
            {
                frozen = avf.FrozenSet.Should().ContainSingle().Subject;
                frozenValue = Values(Parameter(frozen));
                foreach (var v in avf.Vectors)
                {
                    valuesAfter3[v.Name] = Values(Parameter(v));
                }
            }
            else if (step is > 3 and <= 7)
            {
                // Steps 4 to 7 ran optimizer.step() with the vector frozen: bit for bit unchanged.
                Values(Parameter(frozen!)).Should().Equal(frozenValue, $"'{frozen!.Name}' is frozen at step {step} ({optimizerName})");
            }

            if (step == 6)
            {
                foreach (var v in avf.Vectors.Where(v => v != frozen))
                {
                    Values(Parameter(v)).Should().NotEqual(valuesAfter3[v.Name], $"the trainable '{v.Name}' must keep training");
                }
            }
        }

        frozen!.IsFrozen.Should().BeFalse("another vector took its place at AVF step 7");
        Parameter(frozen).requires_grad.Should().BeTrue();
        Values(Parameter(frozen)).Should().NotEqual(frozenValue, "an unfrozen vector trains again");
        first.Should().NotBeNull();
        second.Should().NotBeNull();
    }

    /// <summary>
    /// Control for the test above: clearing <c>requires_grad</c> alone leaves the gradient tensor in place, and
    /// the optimizer's momentum keeps moving the vector (facts #5). So the test above can fail.
    /// </summary>
    [Theory]
    [InlineData("sgd-momentum")]
    [InlineData("adam")]
    public void Control_RequiresGradFalseAlone_StillMovesTheVector(string optimizerName)
    {
        using var model = TwoLayerModel(out var first, out _);
        using var x = Seeded(70, ScalarType.Float64, 8, 4);
        using var target = Seeded(71, ScalarType.Float64, 8, 2);
        using var optimizer = MakeOptimizer(optimizerName, [first.sigma, first.bias!]);
        TrainStep(model, optimizer, x, target);
        TrainStep(model, optimizer, x, target);

        first.sigma.requires_grad = false;
        var before = Values(first.sigma);
        TrainStep(model, optimizer, x, target);

        Values(first.sigma).Should().NotEqual(before);
    }

    private static Sequential TwoLayerModel(out VectorFitLinear first, out VectorFitLinear second)
    {
        using var l1 = SeededLinear(4, 3, hasBias: true, ScalarType.Float64, seed: 72);
        using var l2 = SeededLinear(3, 2, hasBias: true, ScalarType.Float64, seed: 73);
        first = new VectorFitLinear(l1);
        second = new VectorFitLinear(l2);
        return nn.Sequential(("first", first), ("second", second));
    }

    private static optim.Optimizer MakeOptimizer(string name, IEnumerable<Parameter> parameters) => name switch
    {
        "sgd-momentum" => optim.SGD(parameters, 0.05, momentum: 0.9),
        "adam" => optim.Adam(parameters, lr: 0.01),
        "adamw" => optim.AdamW(parameters, lr: 0.01, weight_decay: 0.1),
        "vectorfit-adamw" => new Optim.AdamW(parameters, lr: 0.01, weight_decay: 0.1),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "unknown optimizer"),
    };

    private static void TrainStep(Sequential model, optim.Optimizer optimizer, Tensor x, Tensor target)
    {
        using var scope = torch.NewDisposeScope();
        optimizer.zero_grad();
        var y = model.forward(x);
        var loss = (y - target).square().mean();
        loss.backward();
        optimizer.step();
    }

    private static Parameter Parameter(AvfVector vector)
        => vector.Kind == AvfVectorKind.Sigma ? ((VectorFitLinear)vector.Layer).sigma : vector.Layer.bias!;

    private static bool HasGradient(AvfVector vector)
    {
        using var grad = Parameter(vector).grad;
        return grad is not null;
    }
}
