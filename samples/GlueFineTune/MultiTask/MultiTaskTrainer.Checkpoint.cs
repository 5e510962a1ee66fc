using System.Globalization;
using GlueFineTune.Outputs;
using GlueFineTune.Training;
using VectorFit.Transformers.Models;

namespace GlueFineTune.MultiTask;

/// <summary>The multi-task trainer's checkpoint: what it saves at epoch ends and on Ctrl+C, and how <c>--resume</c> checks and restores it.</summary>
internal sealed partial class MultiTaskTrainer
{
    /// <summary>
    /// Reads and verifies the checkpoint, checks that it belongs to this run (tasks, data, settings), and only then restores each
    /// adapter, optimizer and AVF scheduler; fills the unfinished epoch's loss sums and returns the step and the metrics so far.
    /// </summary>
    private (long Step, Dictionary<string, MetricsLog> Metrics) RestoreCheckpoint(double[] lossSum, long[] lossRows)
    {
        string directory = options.Settings.CheckpointDirectory;
        VerifiedMultiTaskCheckpoint checkpoint = MultiTaskCheckpoint.Open(directory);
        MultiTaskCheckpointState state = checkpoint.State;
        IReadOnlyList<string> differences = MultiTaskCheckpoint.Differences(state.Tasks, CheckpointTasks(lossSum, lossRows));
        if (differences.Count > 0)
        {
            throw new InvalidOperationException(
                $"--resume: the checkpoint in {directory} belongs to other tasks or data:{Environment.NewLine}  {string.Join(Environment.NewLine + "  ", differences)}{Environment.NewLine}"
                + "Nothing was restored or changed. Resume with the same --train and --dev files as the first run, or choose a new --output folder.");
        }

        string expected = Fingerprint();
        if (state.Fingerprint != expected)
        {
            throw new InvalidOperationException(
                $"--resume: the checkpoint in {directory} was written with other settings.{Environment.NewLine}  checkpoint: {state.Fingerprint}{Environment.NewLine}  now:        {expected}{Environment.NewLine}Nothing was restored or changed. Resume with the same options, or choose a new --output folder.");
        }

        if (state.Step < 0 || state.Step > TotalSteps || !double.IsFinite(state.LearningRate) || state.LearningRate <= 0
            || state.Tasks.Any(t => t.EpochLossRows < 0 || t.EpochLossRows > state.Step * options.Settings.BatchSize || !double.IsFinite(t.EpochLossSum)))
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"--resume: {Path.Combine(checkpoint.Folder, TrainingCheckpoint.StateFile)} holds a state impossible for this run (step {state.Step} of {TotalSteps}, lr {state.LearningRate}, losses {string.Join(", ", state.Tasks.Select(t => $"{t.Name}: {t.EpochLossRows} rows summing to {t.EpochLossSum}"))}). Nothing was restored or changed. Delete {checkpoint.Folder} and train again without --resume."));
        }

        MultiTaskCheckpoint.Restore(checkpoint, bank, optimizers, avf);
        var metrics = new Dictionary<string, MetricsLog>(StringComparer.Ordinal);
        for (int t = 0; t < options.Tasks.Count; t++)
        {
            lossSum[t] = state.Tasks[t].EpochLossSum;
            lossRows[t] = state.Tasks[t].EpochLossRows;
            MetricsLog saved = checkpoint.Metrics[options.Tasks[t].Name];
            saved.Epochs.RemoveAll(e => e.Step > state.Step);
            metrics[options.Tasks[t].Name] = saved;
        }

        log.WriteLine($"resumed from {checkpoint.Folder} at step {state.Step} ({state.Reason}); AVF has frozen {string.Join(", ", options.Tasks.Select((t, i) => $"{avf[i].FrozenSet.Count} vectors of {t.Name}"))}");
        if (state.LearningRate != options.Settings.LearningRate)
        {
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"note: the learning rate changes from {state.LearningRate:R} (the checkpoint's) to {options.Settings.LearningRate:R} from step {state.Step + 1} on"));
        }

        return (state.Step, metrics);
    }

    private void SaveCheckpoint(long step, double[] lossSum, long[] lossRows, string reason, Dictionary<string, MetricsLog> metrics)
    {
        var state = new MultiTaskCheckpointState
        {
            Step = step,
            Fingerprint = Fingerprint(),
            LearningRate = options.Settings.LearningRate,
            Reason = reason,
            Tasks = CheckpointTasks(lossSum, lossRows),
        };
        MultiTaskCheckpoint.Save(options.Settings.CheckpointDirectory, bank, optimizers, avf, state, metrics);
    }

    /// <summary>This run's tasks as a checkpoint records them (data files' size and SHA-256, examples, labels) with the unfinished epoch's losses.</summary>
    private List<CheckpointTask> CheckpointTasks(double[] lossSum, long[] lossRows) => options.Tasks.Select((t, i) => new CheckpointTask
    {
        Name = t.Name,
        Train = DataFileIdentity.Of(t.Data.TrainSource),
        Dev = DataFileIdentity.Of(t.Data.DevSource),
        TrainExamples = t.Data.Train.Count,
        Labels = t.Data.Task.LabelNames,
        EpochLossSum = lossSum[i],
        EpochLossRows = lossRows[i],
    }).ToList();

    /// <summary>The shared settings a resume must not change (as a single task's checkpoint fingerprint; the learning rate may change).</summary>
    private string Fingerprint()
    {
        TrainingOptions o = options.Settings;
        string schedules = string.Join(",", options.Tasks.Select((t, i) => $"{t.Name}:{avf[i].Options.InitialStep}/{avf[i].Options.Interval}/{avf[i].Options.AvfSteps}/{avf[i].Options.K}"));
        var columns = options.Tasks[0].Data.Columns;
        return string.Create(
            CultureInfo.InvariantCulture,
            $"multi-task;model={Path.GetFullPath(o.ModelDirectory)};variant={VariantNames.Name(o.Variant)};pooling={PoolingNames.Name(o.Pooling)};epochs={o.Epochs};batch={o.BatchSize};schedule={o.Schedule};maxlen={o.MaxLength};seed={o.Seed};train={train.Count};columns={columns.Text}/{columns.Pair}/{columns.Label};avf={schedules};maxsteps={o.MaxSteps}");
    }
}
