using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static VectorFit.Tests.TestTensors;

namespace VectorFit.Tests;

/// <summary>Saving and restoring the AVF state resumes training exactly; bad states are rejected untouched.</summary>
[Collection("libtorch")]
public sealed class AvfStateTests
{
    // AVF steps 2, 4, 6 and 8; the checkpoint at step 5 sits between two of them, with one vector frozen.
    private static readonly AvfOptions Schedule = new() { InitialStep = 2, Interval = 2, AvfSteps = 4, K = 1, Beta = 0.5 };

    [Fact]
    public void SaveAndRestore_ResumesExactly()
    {
        using var x = Seeded(80, ScalarType.Float64, 8, 4);
        using var target = Seeded(81, ScalarType.Float64, 8, 2);

        // Run A: 10 steps straight, checkpoint (vectors + AVF state as tensors) after step 5.
        using var modelA = Model();
        var avfA = AvfScheduler.FromModel(modelA, Schedule);
        Dictionary<string, Tensor> avfTensors = [];
        Dictionary<string, double[]> vectorsAt5 = [];
        double[] strengthsAt5 = [];
        using (var optimizerA = optim.SGD(VectorParameters(avfA), 0.1))
        {
            for (var step = 1; step <= 10; step++)
            {
                TrainStep(modelA, optimizerA, x, target);
                avfA.step();
                if (step == 5)
                {
                    avfTensors = avfA.state_dict().ToTensors();
                    vectorsAt5 = avfA.Vectors.ToDictionary(v => v.Name, v => Values(ParameterOf(v)));
                    strengthsAt5 = avfA.TrainingStrength().ToArray();
                    avfA.FrozenSet.Should().ContainSingle("the checkpoint must hold a frozen vector for the test to bite");
                    strengthsAt5.Should().OnlyContain(s => s > 0);
                }
            }
        }

        // Run B: a fresh model, the checkpointed vectors copied in, then a scheduler built *after* that (so
        // its own v0 snapshot is wrong) and restored from the tensors.
        using var modelB = Model();
        var vectorsB = AvfScheduler.FromModel(modelB, AvfOptions.None).Vectors;
        foreach (var v in vectorsB)
        {
            Set(ParameterOf(v), vectorsAt5[v.Name]);
        }

        var avfB = AvfScheduler.FromModel(modelB, Schedule);
        avfB.TrainingStrength().Should().OnlyContain(s => s == 0, "before LoadState v0 is the checkpoint itself");
        avfB.load_state_dict(AvfState.FromTensors(avfTensors));
        foreach (var t in avfTensors.Values)
        {
            t.Dispose();
        }

        avfB.StepCount.Should().Be(5);
        avfB.TrainingStrength().Should().Equal(strengthsAt5);
        foreach (var v in avfB.Vectors)
        {
            ParameterOf(v).requires_grad.Should().Be(!v.IsFrozen, $"LoadState re-applies the frozen set to '{v.Name}'");
        }

        using (var optimizerB = optim.SGD(VectorParameters(avfB), 0.1))
        {
            for (var step = 6; step <= 10; step++)
            {
                TrainStep(modelB, optimizerB, x, target);
                avfB.step();
            }
        }

        avfB.StepCount.Should().Be(avfA.StepCount);
        avfB.Vectors.Select(v => v.SmoothedStrength).Should().Equal(avfA.Vectors.Select(v => v.SmoothedStrength));
        avfB.FrozenSet.Select(v => v.Name).Should().Equal(avfA.FrozenSet.Select(v => v.Name));
        foreach (var (va, vb) in avfA.Vectors.Zip(avfB.Vectors))
        {
            Values(ParameterOf(vb)).Should().Equal(Values(ParameterOf(va)), $"'{va.Name}' resumes bit for bit");
        }
    }

    [Fact]
    public void ToTensorsAndBack_IsLossless()
    {
        using var model = Model();
        var avf = AvfScheduler.FromModel(model, Schedule);
        using (var optimizer = optim.SGD(VectorParameters(avf), 0.1))
        {
            using var x = Seeded(82, ScalarType.Float64, 8, 4);
            using var target = Seeded(83, ScalarType.Float64, 8, 2);
            for (var step = 0; step < 3; step++)
            {
                TrainStep(model, optimizer, x, target);
                avf.step();
            }
        }

        var state = avf.state_dict();
        var tensors = state.ToTensors("adapter.avf.");
        var restored = AvfState.FromTensors(tensors, "adapter.avf.");

        restored.Should().BeEquivalentTo(state, o => o.ComparingByMembers<AvfState>().ComparingByMembers<AvfVectorState>());
        restored.AvfOptions.Should().Be(Schedule);
        state.Vectors.Should().Contain(v => v.IsFrozen);
        state.Vectors.Should().Contain(v => v.SmoothedStrength > 0);
        tensors.Keys.Should().Contain(["adapter.avf.step", "adapter.avf.schedule", "adapter.avf.beta", "adapter.avf.vector.first.sigma.initial"]);
        tensors["adapter.avf.vector.first.sigma.initial"].dtype.Should().Be(ScalarType.Float64);
        foreach (var t in tensors.Values)
        {
            t.Dispose();
        }
    }

    [Fact]
    public void LoadState_WithAnotherSchedule_IsRejected_AndChangesNothing()
    {
        using var model = Model();
        var avf = AvfScheduler.FromModel(model, Schedule);
        var state = avf.state_dict() with { StepCount = 3, AvfOptions = Schedule with { K = 2 } };

        var act = () => avf.load_state_dict(state);

        act.Should().Throw<ArgumentException>().WithMessage("The state was saved with *K = 2* but this scheduler runs *K = 1*construct the scheduler with state.Options*");
        avf.StepCount.Should().Be(0);
    }

    [Fact]
    public void LoadState_FromAnotherModel_IsRejected_NamingTheVectors()
    {
        using var model = Model();
        var avf = AvfScheduler.FromModel(model, Schedule);
        var state = avf.state_dict();
        var renamed = state with { StepCount = 4, Vectors = state.Vectors.Select(v => v with { Name = "other." + v.Name }).ToList() };

        var act = () => avf.load_state_dict(renamed);

        act.Should().Throw<ArgumentException>().WithMessage("State vector 0 is 'other.first.sigma' with 3 values, but this scheduler's vector 0 is 'first.sigma' with 3*");
        avf.StepCount.Should().Be(0);
    }

    [Fact]
    public void LoadState_FreezingMoreThanK_IsRejected()
    {
        using var model = Model();
        var avf = AvfScheduler.FromModel(model, Schedule);
        var state = avf.state_dict();
        var corrupt = state with { Vectors = state.Vectors.Select(v => v with { IsFrozen = true }).ToList() };

        var act = () => avf.load_state_dict(corrupt);

        act.Should().Throw<ArgumentException>().WithMessage("The state freezes 4 vectors but the schedule freezes at most 1*");
        avf.Vectors.Should().OnlyContain(v => !v.IsFrozen);
    }

    [Fact]
    public void FromTensors_MissingOrMistypedKey_IsRejected_NamingTheKey()
    {
        using var model = Model();
        var avf = AvfScheduler.FromModel(model, Schedule);
        var tensors = avf.state_dict().ToTensors();
        tensors.Remove("avf.step", out var step);
        step!.Dispose();

        var missing = () => AvfState.FromTensors(tensors);
        missing.Should().Throw<ArgumentException>().WithMessage("The AVF state has no 'avf.step' tensor*");

        tensors["avf.step"] = torch.tensor(new[] { 1.0 });
        var mistyped = () => AvfState.FromTensors(tensors);
        mistyped.Should().Throw<ArgumentException>().WithMessage("AVF state tensor 'avf.step' must be Int64 of shape (1), got Float64 (1)*");

        foreach (var t in tensors.Values)
        {
            t.Dispose();
        }
    }

    private static Sequential Model()
    {
        using var l1 = SeededLinear(4, 3, hasBias: true, ScalarType.Float64, seed: 84);
        using var l2 = SeededLinear(3, 2, hasBias: true, ScalarType.Float64, seed: 85);
        return nn.Sequential(("first", new VectorFitLinear(l1)), ("second", new VectorFitLinear(l2)));
    }

    private static Parameter ParameterOf(AvfVector vector)
        => vector.Kind == AvfVectorKind.Sigma ? ((VectorFitLinear)vector.Layer).sigma : vector.Layer.bias!;

    private static List<Parameter> VectorParameters(AvfScheduler avf) => avf.Vectors.Select(ParameterOf).ToList();

    private static void TrainStep(Sequential model, optim.Optimizer optimizer, Tensor x, Tensor target)
    {
        using var scope = torch.NewDisposeScope();
        optimizer.zero_grad();
        var loss = (model.forward(x) - target).square().mean();
        loss.backward();
        optimizer.step();
    }
}
