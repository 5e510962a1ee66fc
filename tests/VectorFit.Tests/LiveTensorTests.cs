using TorchSharp;
using VectorFit.Tests.Models;
using static TorchSharp.torch;
using static VectorFit.Tests.TestTensors;

namespace VectorFit.Tests;

/// <summary>
/// Memory that does not wait for the garbage collector: a training step through the library's layers leaves no tensor
/// for a finalizer to free, even when the caller uses no dispose scope at all and disposes only what it owns (the
/// output, the loss). The count is TorchSharp's per-thread <c>DisposeScopeManager.Statistics.ThreadTotalLiveCount</c>
/// (created minus disposed on this thread; a finalizer disposes on its own thread, so a tensor left to the GC stays
/// counted here whatever the GC does): it must be the same after step 1 and after step 50.
/// </summary>
[Collection("libtorch")]
public sealed class LiveTensorTests
{
    private const int Steps = 50;

    // (layer kind, path, σ or the SVFT values train)
    public static TheoryData<string, string, bool> Layers => new()
    {
        { "VectorFit", "Auto", true },
        { "VectorFit", "Factored", true },
        { "VectorFit", "Materialized", true },
        { "VectorFit", "Auto", false },
        { "Svft", "Factored", true },
        { "Svft", "Materialized", true },
    };

    [Theory]
    [MemberData(nameof(Layers))]
    public void LayerStepsWithoutADisposeScopeLeaveNoTensorToTheFinalizer(string kind, string pathName, bool trainVector)
    {
        var path = Enum.Parse<ForwardPath>(pathName);
        using var linear = SeededLinear(6, 5, hasBias: true, ScalarType.Float32, seed: 1);
        using nn.Module<Tensor, Tensor> layer = kind == "VectorFit"
            ? new VectorFitLinear(linear, new VectorFitLinearOptions { TrainSigma = trainVector }) { PathOverride = path }
            : new SvftLinear(linear, new SvftLinearOptions { TrainValues = trainVector }) { PathOverride = path };
        using var x = Seeded(2, ScalarType.Float32, 3, 4, 6).requires_grad_();
        using var optimizer = new Optim.AdamW(layer.parameters().Where(p => p.requires_grad).ToList(), lr: 1e-2);

        var live = new long[Steps + 1];
        for (var step = 1; step <= Steps; step++)
        {
            // TorchSharp's own Optimizer.zero_grad drops the tensor grad.zero_() returns (a new handle), so it runs in a
            // scope here, as it does in the sample and the quick start; everything else runs without one.
            using (torch.NewDisposeScope())
            {
                optimizer.zero_grad();
            }

            using (var y = layer.forward(x))
            using (var squared = y.square())
            using (var loss = squared.sum())
            {
                loss.backward();
            }

            optimizer.step();
            live[step] = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        }

        (live[Steps] - live[1]).Should().Be(0, $"a step must leave nothing behind ({DisposeScopeManager.Statistics})");
    }

    [Fact]
    public void ModelStepsWithAvfInsideAStepScopeLeaveNothingOutsideIt()
    {
        // The workflow of the quick start: one dispose scope per step, AVF after it, outside the scope.
        using var tokens = TinyBert.Tokens(seed: 5, batch: 6);
        torch.manual_seed(6);
        using var labels = torch.randint(0, TinyBert.Classes, new long[] { 6 }, dtype: ScalarType.Int64);
        using var model = new TinyBert(seed: 1, dtype: ScalarType.Float32);
        ModelSurgery.Apply(model, new VectorFitConfig { Preset = TargetPreset.Bert, ModulesToSave = new[] { "classifier" } });
        using var optimizer = new Optim.AdamW(model.parameters().Where(p => p.requires_grad).ToList(), lr: 1e-2);
        var avf = AvfScheduler.FromModel(model, new AvfOptions { InitialStep = 2, Interval = 5, AvfSteps = 5, K = 4 });

        var live = new long[Steps + 1];
        for (var step = 1; step <= Steps; step++)
        {
            using (var scope = torch.NewDisposeScope())
            {
                optimizer.zero_grad();
                var loss = nn.functional.cross_entropy(model.forward(tokens), labels);
                loss.backward();
                optimizer.step();
            }

            avf.step();

            // A layer whose σ AVF froze holds its composed weight and the copy of σ that proves it current (2 tensors):
            // state, not a leak, and it appears when AVF freezes σ; everything else must stay level.
            var held = ModelSurgery.FindLayers<VectorFitLinear>(model).Count(l => l.layer.ComposedWeight.IsHeld);
            live[step] = DisposeScopeManager.Statistics.ThreadTotalLiveCount - (2 * held);
        }

        avf.FrozenSet.Should().HaveCount(4, "AVF must have frozen vectors, so frozen layers were part of the run");
        ModelSurgery.FindLayers<VectorFitLinear>(model).Should().Contain(l => l.layer.ComposedWeight.IsHeld, "some frozen σ must have taken the cached path");
        (live[Steps] - live[1]).Should().Be(0, $"a step must leave nothing behind ({DisposeScopeManager.Statistics})");
    }
}
