using System.Diagnostics;
using System.Globalization;
using System.Text;
using GlueFineTune.Metrics;
using VectorFit.Transformers.Models;
using GlueFineTune.Outputs;
using VectorFit.Distributed;
using VectorFit.Serialization;
using TorchSharp;
using static TorchSharp.torch;

namespace GlueFineTune.Training;

/// <summary>How a run ended.</summary>
/// <param name="Completed">All steps ran (otherwise it was interrupted and left a checkpoint).</param>
/// <param name="Step">Optimizer steps done.</param>
/// <param name="Metrics">The metrics log (also in <c>metrics.json</c>).</param>
/// <param name="LastEvaluation">The last dev evaluation, if any.</param>
internal sealed record TrainingOutcome(bool Completed, long Step, MetricsLog Metrics, TaskEvaluation? LastEvaluation);

/// <summary>
/// The training loop: AdamW steps over shuffled batches, each inside its own dispose scope (memory stays
/// flat), AVF after each step, dev evaluation and a checkpoint at each epoch end, a checkpoint on
/// cancellation (Ctrl+C) or on an exception, and exact continuation with <see cref="TrainingOptions.Resume"/>.
/// </summary>
internal sealed class GlueTrainer
{
    private readonly TrainingSession session;
    private readonly TextWriter log;
    private readonly TextWriter progressWriter;
    private readonly bool interactive;
    private CheckpointState? lastCheckpoint;

    /// <summary>Prepares the loop.</summary>
    /// <param name="session">The model, data, optimizer and scheduler.</param>
    /// <param name="log">Where messages go (stdout).</param>
    /// <param name="progressWriter">Where the progress line goes (stderr).</param>
    /// <param name="interactive">Redraw the progress line in place.</param>
    public GlueTrainer(TrainingSession session, TextWriter log, TextWriter progressWriter, bool interactive)
    {
        this.session = session;
        this.log = log;
        this.progressWriter = progressWriter;
        this.interactive = interactive;
    }

    /// <summary>Called after every step (tests use it to interrupt a run at a chosen step).</summary>
    public Action<long>? AfterStep { get; init; }

    /// <summary>Trains until the last step or until <paramref name="cancellation"/> fires.</summary>
    /// <param name="cancellation">Ctrl+C: the loop stops after the current step and writes a checkpoint.</param>
    /// <returns>How the run ended.</returns>
    public TrainingOutcome Run(CancellationToken cancellation)
    {
        TrainingOptions options = session.Options;
        Directory.CreateDirectory(options.OutputDirectory);
        string metricsPath = Path.Combine(options.OutputDirectory, MetricsLog.FileName);
        long spe = session.StepsPerEpoch;
        long total = session.TotalSteps;
        int epochs = (int)((total + spe - 1) / spe);

        long step = 0;
        double lossSum = 0;
        long lossCount = 0;
        MetricsLog metrics = NewLog();
        if (options.Resume)
        {
            (step, lossSum, lossCount, metrics) = RestoreCheckpoint();
        }
        else if (TrainingCheckpoint.Exists(options.CheckpointDirectory))
        {
            log.WriteLine($"note: {options.CheckpointDirectory} holds an earlier run's checkpoint; this run replaces it (pass --resume to continue that run instead)");
        }

        ReportAvfSchedule(total);
        var clock = Stopwatch.StartNew();
        var progress = new ProgressDisplay(progressWriter, interactive, options.BatchSize, step);
        TaskEvaluation? last = null;
        double smoothed = lossCount > 0 ? lossSum / lossCount : double.NaN;
        int[]? order = null;
        int orderEpoch = -1;
        try
        {
            if (options.Resume && step > 0 && (step % spe == 0 || step == total) && !metrics.Epochs.Any(e => e.Step == step))
            {
                // The run stopped between an epoch's last step and its evaluation: evaluate it now.
                int finished = (int)((step + spe - 1) / spe);
                double lr = LearningRates.At(options.Schedule, options.LearningRate, step, total);
                last = EndEpoch(metrics, metricsPath, finished, step, lossCount > 0 ? lossSum / lossCount : double.NaN, lr, clock.Elapsed);
                (lossSum, lossCount) = (0, 0);
                SaveCheckpoint(step, 0, 0, $"end of epoch {finished}", metrics);
            }

            while (step < total)
            {
                if (Agreed(cancellation.IsCancellationRequested))
                {
                    progress.Break();
                    SaveCheckpoint(step, lossSum, lossCount, "interrupted", metrics);
                    log.WriteLine($"interrupted at step {step}/{total}; checkpoint saved in {options.CheckpointDirectory}. Continue with the same command plus --resume.");
                    return new TrainingOutcome(false, step, metrics, last);
                }

                int epoch = (int)(step / spe);
                if (epoch != orderEpoch)
                {
                    order = EpochOrder.Permutation(session.Train.Count, options.Seed, epoch);
                    orderEpoch = epoch;
                }

                long next = step + 1;
                double lr = LearningRates.At(options.Schedule, options.LearningRate, next, total);
                int start = (int)((next - 1 - (epoch * spe)) * options.BatchSize);
                int[] indices = order![start..Math.Min(start + options.BatchSize, order.Length)];
                double loss = TrainStep(indices, lr, next);
                step = next;
                session.Avf.step();
                NativeHeap.Trim();
                lossSum += loss;
                lossCount++;
                smoothed = double.IsNaN(smoothed) ? loss : (0.9 * smoothed) + (0.1 * loss);
                bool epochEnd = step % spe == 0 || step == total;
                progress.Report(new ProgressSample(step, total, epoch + 1, epochs, smoothed, lr, session.Avf.FrozenSet.Count), force: epochEnd);
                AfterStep?.Invoke(step);

                if (epochEnd)
                {
                    progress.Break();
                    last = EndEpoch(metrics, metricsPath, epoch + 1, step, lossSum / lossCount, lr, clock.Elapsed);
                    lossSum = 0;
                    lossCount = 0;
                    SaveCheckpoint(step, 0, 0, $"end of epoch {epoch + 1}", metrics);
                }
            }
        }
        catch (TrainingDivergedException)
        {
            // The weights may hold NaN now: keep the last good checkpoint rather than replace it with this state.
            progress.Break();
            throw;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            progress.Break();
            if (session.Parallel is null)
            {
                // Distributed, the error may be on one rank only, and a root-only save is a collective: keep the last checkpoint.
                TrySaveAfterError(step, lossSum, lossCount, e, metrics);
            }

            throw;
        }

        return new TrainingOutcome(true, step, metrics, last);
    }

    /// <summary>Whether any rank asks to stop (one process: <paramref name="mine"/>), so that every rank stops at the same step.</summary>
    private bool Agreed(bool mine)
    {
        if (session.Parallel is not { World: var world })
        {
            return mine;
        }

        using Tensor flag = tensor(new long[] { mine ? 1 : 0 });
        world.AllReduce(flag, MpiReduceOperation.Max);
        return flag.item<long>() != 0;
    }

    private double TrainStep(int[] indices, double lr, long step)
    {
        using var scope = NewDisposeScope();
        MpiWorld? world = session.Parallel?.World;
        // Dropout masks depend only on (seed, step) — and the rank, so that the ranks' rows do not share masks.
        manual_seed(EpochOrder.StepSeed(session.Options.Seed, step) + (world?.Rank ?? 0));
        foreach (var group in session.Optimizer.ParamGroups)
        {
            group.LearningRate = lr;
        }

        // Distributed: this rank's contiguous part of the global batch (PartOf). Its mean loss is weighted by length·N/B, so that
        // the mean over the ranks of the weighted losses (and of their gradients, AverageGradients) is the global batch's mean.
        // A rank left without a row (a last batch smaller than N) runs the first row with weight 0: its gradients are present and 0.
        var (first, length) = world?.PartOf(indices.Length) ?? (0, indices.Length);
        double weight = world is null ? 1 : (double)length * world.Size / indices.Length;
        TensorBatch batch = session.Train.MakeBatch(length > 0 ? indices[(int)first..(int)(first + length)] : indices[..1]);
        Tensor logits = session.Model.call(batch.InputIds, batch.AttentionMask, batch.TokenTypeIds);
        Tensor loss = session.Options.Task.IsRegression
            ? nn.functional.mse_loss(logits.reshape(-1), batch.Labels)
            : nn.functional.cross_entropy(logits, batch.Labels);
        if (weight != 1)
        {
            using Scalar held = weight.ToScalar(); // held for the native call (see VectorFit.Optim.AdamW)
            loss = loss.mul(held);
        }

        double value = loss.item<float>();
        if (world is not null)
        {
            using Tensor sum = tensor(new[] { value / world.Size }); // every rank checks and logs the same global loss
            world.AllReduce(sum);
            value = sum.item<double>();
        }

        if (!double.IsFinite(value))
        {
            // Checked before the update, so the weights of the last completed step stay as they were.
            string rate = session.Options.LearningRate.ToString(CultureInfo.InvariantCulture);
            string resume = lastCheckpoint is { } saved
                ? $"The checkpoint of step {saved.Step} ({saved.Reason}) is kept: continue from it with a lower rate (the same command with --resume and a smaller --lr than {rate}), or start again with a smaller --lr."
                : $"Start again with a smaller --lr than {rate}.";
            throw new TrainingDivergedException($"the training loss is {value} at step {step}: training diverged. {resume}");
        }

        session.Optimizer.zero_grad();
        loss.backward();
        session.Parallel?.AverageGradients();
        session.Optimizer.step();
        return value;
    }

    private TaskEvaluation EndEpoch(MetricsLog metrics, string metricsPath, int epoch, long step, double trainLoss, double lr, TimeSpan elapsed)
    {
        TaskEvaluation evaluation = DevEvaluation.Run(session.Model, session.Dev, session.Options.Task, session.Options.EvalBatchSize, session.Parallel?.World);
        NativeHeap.Trim();
        metrics.Epochs.RemoveAll(e => e.Epoch == epoch);
        metrics.Epochs.Add(new EpochMetrics
        {
            Epoch = epoch,
            Step = step,
            TrainLoss = trainLoss,
            LearningRate = lr,
            Dev = evaluation.ToDictionary(),
            FrozenVectors = session.Avf.FrozenSet.Select(v => v.Name).ToList(),
            ElapsedSeconds = Math.Round(elapsed.TotalSeconds, 3),
        });
        OnRoot(() => AtomicFile.Write(metricsPath, s => s.Write(Encoding.UTF8.GetBytes(metrics.ToJson()))));
        string frozen = session.Avf.FrozenSet.Count > 0 ? $", {session.Avf.FrozenSet.Count} vectors frozen" : string.Empty;
        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"epoch {epoch}: train loss {trainLoss:F4}, dev {evaluation}{frozen}"));
        return evaluation;
    }

    private (long Step, double LossSum, long LossCount, MetricsLog Metrics) RestoreCheckpoint()
    {
        TrainingOptions options = session.Options;
        // Every file is checked against the checkpoint's manifest, and its state against this run, before anything is restored.
        VerifiedCheckpoint checkpoint = TrainingCheckpoint.Open(options.CheckpointDirectory);
        CheckpointState state = checkpoint.State;
        string expected = Fingerprint();
        if (state.Fingerprint != expected)
        {
            throw new InvalidOperationException(
                $"--resume: the checkpoint in {options.CheckpointDirectory} was written with other settings.{Environment.NewLine}  checkpoint: {state.Fingerprint}{Environment.NewLine}  now:        {expected}{Environment.NewLine}Resume with the same options, or choose a new --output folder.");
        }

        long total = session.TotalSteps;
        if (state.Step < 0 || state.Step > total || state.EpochLossCount < 0 || state.EpochLossCount > state.Step
            || !double.IsFinite(state.EpochLossSum) || !double.IsFinite(state.LearningRate) || state.LearningRate <= 0)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"--resume: {Path.Combine(checkpoint.Folder, "state.json")} holds a state impossible for this run (step {state.Step} of {total}, {state.EpochLossCount} losses summing to {state.EpochLossSum}, lr {state.LearningRate}). Nothing was restored or changed. Delete {checkpoint.Folder} and train again without --resume."));
        }

        TrainingCheckpoint.Restore(checkpoint, session.Model, session.Optimizer, session.Avf);
        MetricsLog metrics = checkpoint.Metrics;
        metrics.Epochs.RemoveAll(e => e.Step > state.Step);
        log.WriteLine($"resumed from {checkpoint.Folder} at step {state.Step} ({state.Reason}); AVF has frozen {session.Avf.FrozenSet.Count} vectors");
        if (state.LearningRate != options.LearningRate)
        {
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"note: the learning rate changes from {state.LearningRate:R} (the checkpoint's) to {options.LearningRate:R} from step {state.Step + 1} on"));
        }

        lastCheckpoint = state;
        return (state.Step, state.EpochLossSum, state.EpochLossCount, metrics);
    }

    private void SaveCheckpoint(long step, double lossSum, long lossCount, string reason, MetricsLog metrics)
    {
        var state = new CheckpointState
        {
            Step = step,
            Fingerprint = Fingerprint(),
            LearningRate = session.Options.LearningRate,
            EpochLossSum = lossSum,
            EpochLossCount = lossCount,
            Reason = reason,
        };
        OnRoot(() => TrainingCheckpoint.Save(session.Options.CheckpointDirectory, session.Model, session.Surgery, session.Optimizer, session.Avf, state, metrics));
        lastCheckpoint = state;
    }

    /// <summary>Runs a write in one process, or on rank 0 only while the other ranks wait (<see cref="DataParallel.RunOnRoot"/>).</summary>
    private void OnRoot(Action write)
    {
        if (session.Parallel is { } parallel)
        {
            parallel.RunOnRoot(write);
        }
        else
        {
            write();
        }
    }

    private void TrySaveAfterError(long step, double lossSum, long lossCount, Exception error, MetricsLog metrics)
    {
        try
        {
            SaveCheckpoint(step, lossSum, lossCount, $"error: {error.GetType().Name}", metrics);
            log.WriteLine($"training stopped at step {step} by an error; a checkpoint of the last completed step is in {session.Options.CheckpointDirectory} (continue with --resume once the cause is fixed).");
        }
        catch (Exception saveError) when (saveError is IOException or UnauthorizedAccessException or InvalidOperationException or ArgumentException)
        {
            log.WriteLine($"training stopped by an error and the checkpoint could not be written either: {saveError.Message}");
        }
    }

    private void ReportAvfSchedule(long total)
    {
        var avf = session.Avf.Options;
        if (!avf.Enabled)
        {
            log.WriteLine(session.Options.Method == FineTuningMethod.VectorFit
                ? "AVF: off for this variant (training strength is still tracked for the heat map)"
                : $"AVF: does not apply to --method {MethodNames.Name(session.Options.Method)}");
            return;
        }

        // The scheduler knows the run's length (TotalSteps) and has checked the schedule against it (ScheduleWarning).
        string fit = session.Avf.ScheduleWarning is null ? string.Empty
            : avf.InitialStep > total ? $" — AVF does not start: this run stops after {total} steps, before the first AVF step, so nothing is frozen"
            : $" — only the AVF steps up to step {total} run (this run's end), not all {avf.AvfSteps}";
        string epochs = session.Options.AvfStartEpoch is { } start
            ? string.Create(CultureInfo.InvariantCulture, $" (from epoch {start:0.###} every {session.Options.AvfEveryEpochs ?? 1:0.###} epochs)")
            : string.Empty;
        log.WriteLine($"AVF: t_i {avf.InitialStep}, t_f {avf.Interval}, n_f {avf.AvfSteps}, k {avf.K}, β {avf.Beta.ToString(CultureInfo.InvariantCulture)}{epochs}{fit}");
    }

    private string Fingerprint()
    {
        TrainingOptions o = session.Options;
        return string.Create(
            CultureInfo.InvariantCulture,
            $"task={o.Task.Name};model={Path.GetFullPath(o.ModelDirectory)};method={MethodNames.Name(o.Method)}/{o.SvftPattern};variant={VariantNames.Name(o.Variant)};pooling={PoolingNames.Name(o.Pooling)};epochs={o.Epochs};batch={o.BatchSize};schedule={o.Schedule};maxlen={o.MaxLength};seed={o.Seed};train={session.Train.Count};avf={session.Avf.Options.InitialStep}/{session.Avf.Options.Interval}/{session.Avf.Options.AvfSteps}/{session.Avf.Options.K};maxsteps={o.MaxSteps}");
    }

    private MetricsLog NewLog() => new()
    {
        Task = session.Options.Task.Name,
        Variant = session.Options.Method == FineTuningMethod.VectorFit ? VariantNames.Name(session.Options.Variant) : null,
        Method = MethodNames.Name(session.Options.Method),
        Model = session.Options.ModelDirectory,
        MainMetric = session.Options.Task.MainMetric.Name(),
        AdapterParameters = session.Surgery.AdapterParameterCount,
        TrainableParameters = session.Surgery.TrainableParameterCount,
        Settings = session.Options.Describe(),
    };
}

/// <summary>The training loss became NaN or infinite; the run stops without replacing its last good checkpoint.</summary>
internal sealed class TrainingDivergedException : InvalidOperationException
{
    /// <summary>Builds the exception.</summary>
    /// <param name="message">The step, the loss and what to do.</param>
    public TrainingDivergedException(string message)
        : base(message)
    {
    }
}
