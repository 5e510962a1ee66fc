using GlueFineTune.Data;
using GlueFineTune.Training;
using TorchSharp;
using VectorFit;

namespace GlueFineTune.Tests.Training;

/// <summary>
/// Memory that does not wait for the garbage collector: every tensor a training run creates on the training
/// thread — the step, AVF, the epoch-end evaluation, metrics and checkpoint — is disposed by a dispose scope or
/// a <c>using</c>, never left to a finalizer.
/// </summary>
/// <remarks>
/// The count is TorchSharp's per-thread <c>DisposeScopeManager.Statistics.ThreadTotalLiveCount</c>: tensors created
/// on this thread minus tensors disposed on this thread. A tensor freed by its finalizer is disposed on the finalizer
/// thread, so it stays in this thread's count whatever the GC does: the check is deterministic. The run has no outer
/// dispose scope, so nothing is swept up for the loop. Between the end of step 1 and the end of step 50 the run takes
/// 49 steps, AVF steps and 24 epoch ends (evaluation, metrics.json, checkpoint): the count must not change at all.
/// </remarks>
[Collection("libtorch")]
public sealed class LiveTensorTests
{
    private static readonly string[] Sentences = ["the movie was good", "a bad film", "the film was great", "an awful movie", "good", "bad .", "a great film .", "the movie was awful"];

    [Theory]
    [InlineData(VectorFitVariant.VectorFit, false)]
    [InlineData(VectorFitVariant.VectorFit, true)]
    [InlineData(VectorFitVariant.SigmaAttentionAndBias, false)]
    public void TrainingRunLeavesNoTensorToTheFinalizer(VectorFitVariant variant, bool deberta)
    {
        using var dir = new TempDirectory();
        using var session = Session(dir.Path, GlueTask.Sst2, variant, maxSteps: 51, deberta);
        var live = new Dictionary<long, long>();
        var trainer = new GlueTrainer(session, TextWriter.Null, TextWriter.Null, false)
        {
            // A layer whose σ AVF froze holds its composed weight and the 4 tensors of that cache (state, not a leak).
            AfterStep = step => live[step] = DisposeScopeManager.Statistics.ThreadTotalLiveCount
                - (2 * ModelSurgery.FindLayers<VectorFitLinear>(session.Model).Count(l => l.layer.ComposedWeight.IsHeld)),
        };

        trainer.Run(CancellationToken.None).Step.Should().Be(51);
        if (variant == VectorFitVariant.VectorFit)
        {
            session.Avf.FrozenSet.Should().Contain(v => v.Kind == AvfVectorKind.Sigma, "a frozen σ must have taken the cached path");
        }


        (live[50] - live[1]).Should().Be(0, $"no tensor may outlive its step (live after step 1: {live[1]}, after step 50: {live[50]}; {DisposeScopeManager.Statistics})");
        (live[51] - live[50]).Should().Be(0, "an epoch end (evaluation, metrics, checkpoint) leaves nothing behind either");
    }

    private static TrainingSession Session(string root, GlueTask task, VectorFitVariant variant, long maxSteps, bool deberta)
    {
        string model = Path.Combine(root, "model");
        using (var source = TinyCheckpoint.Model(deberta ? TinyCheckpoint.Deberta() : TinyCheckpoint.Bert(), numLabels: task.NumLabels))
        {
            TinyCheckpoint.Write(model, source);
        }

        var examples = Sentences.Select(s => GlueExample.Classification(s, null, s.Contains("good") || s.Contains("great") ? 1 : 0)).ToList();
        var options = new TrainingOptions
        {
            Task = task,
            ModelDirectory = model,
            OutputDirectory = Path.Combine(root, "out"),
            Variant = variant,
            Epochs = 100,
            BatchSize = 4,
            LearningRate = 1e-2,
            Avf = new AvfOptions { InitialStep = 1, Interval = 10, AvfSteps = 3, K = 2 },
            MaxSteps = maxSteps,
        };
        return TrainingSession.Create(options, examples, examples, TextWriter.Null);
    }
}
