using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using GlueFineTune.Outputs;
using GlueFineTune.Training;
using TorchSharp.Modules;
using VectorFit;
using VectorFit.Adapters;
using static TorchSharp.torch;

namespace GlueFineTune.MultiTask;

/// <summary>A data file as a checkpoint records it: where it was, and its size and SHA-256 (what a resume compares).</summary>
/// <param name="Path">The file's full path when the checkpoint was written.</param>
/// <param name="Bytes">Its size.</param>
/// <param name="Sha256">Its SHA-256 (hex, lower case).</param>
internal sealed record DataFileIdentity(string Path, long Bytes, string Sha256)
{
    /// <summary>Reads a file's size and SHA-256.</summary>
    /// <param name="path">The file.</param>
    /// <returns>Its identity.</returns>
    public static DataFileIdentity Of(string path)
    {
        string full = System.IO.Path.GetFullPath(path);
        using var stream = File.OpenRead(full);
        return new DataFileIdentity(full, stream.Length, Convert.ToHexStringLower(SHA256.HashData(stream)));
    }

    /// <summary>Whether the two are the same content (the path may differ: a moved data folder still resumes).</summary>
    /// <param name="other">The other file.</param>
    /// <returns>Same size and SHA-256.</returns>
    public bool SameContent(DataFileIdentity other) => other.Bytes == Bytes && string.Equals(other.Sha256, Sha256, StringComparison.OrdinalIgnoreCase);

    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Path} ({Bytes} bytes, SHA-256 {Sha256[..Math.Min(12, Sha256.Length)]}…)");
}

/// <summary>One task in a multi-task checkpoint: what it trains on, and its part of the unfinished epoch's loss.</summary>
internal sealed record CheckpointTask
{
    /// <summary>The task's (adapter's) name.</summary>
    public required string Name { get; init; }

    /// <summary>Its <c>--train</c> file.</summary>
    public required DataFileIdentity Train { get; init; }

    /// <summary>Its <c>--dev</c> file.</summary>
    public required DataFileIdentity Dev { get; init; }

    /// <summary>The training examples used (after <c>--max-train-examples</c>).</summary>
    public required int TrainExamples { get; init; }

    /// <summary>Its class names, in head order.</summary>
    public required IReadOnlyList<string> Labels { get; init; }

    /// <summary>Sum of its rows' training losses in the current (unfinished) epoch.</summary>
    public required double EpochLossSum { get; init; }

    /// <summary>Rows summed in <see cref="EpochLossSum"/>.</summary>
    public required long EpochLossRows { get; init; }
}

/// <summary>The scalar part of a multi-task checkpoint (<c>state.json</c>).</summary>
internal sealed record MultiTaskCheckpointState
{
    /// <summary>Global steps (mixed batches) completed.</summary>
    public required long Step { get; init; }

    /// <summary>Shared settings that must not change across a resume (model, variant, batch, seed, epochs, each task's AVF schedule, …; not the learning rate).</summary>
    public required string Fingerprint { get; init; }

    /// <summary>The base learning rate the steps so far were taken with (a resume may change it).</summary>
    public required double LearningRate { get; init; }

    /// <summary>Why the checkpoint was written (epoch end, interrupted).</summary>
    public required string Reason { get; init; }

    /// <summary>The tasks, in command-line order (the order decides the shuffled union's rows, so it must not change).</summary>
    public required IReadOnlyList<CheckpointTask> Tasks { get; init; }
}

/// <summary>A multi-task checkpoint read back and verified: its state and each task's metrics log as of its step.</summary>
/// <param name="Folder">The folder it was read from (the checkpoint, or the backup an interrupted save left).</param>
/// <param name="State">Its <c>state.json</c>.</param>
/// <param name="Metrics">Each task's copy of <c>metrics.json</c>, by task name.</param>
internal sealed record VerifiedMultiTaskCheckpoint(string Folder, MultiTaskCheckpointState State, IReadOnlyDictionary<string, MetricsLog> Metrics);

/// <summary>
/// The resumable checkpoint of a multi-task run in <c>OUTPUT/checkpoint/</c>: <c>state.json</c> (global step, settings fingerprint,
/// each task's data files, labels and unfinished-epoch loss) and per task <c>NAME/adapter.safetensors</c> (σ, b and head, library
/// format, with its AVF steps), <c>NAME/optimizer.bin</c> (its AdamW state), <c>NAME/avf.safetensors</c> (its AVF scheduler's state:
/// own step count, smoothed strengths, frozen set, <c>v_0</c>) and <c>NAME/metrics.json</c>; <c>manifest.sha256</c> is written last.
/// Written and verified by the single-task checkpoint's code (<see cref="TrainingCheckpoint.WriteFolder"/>,
/// <see cref="TrainingCheckpoint.VerifyFolder"/>): a fresh folder replaces the old one, and every file is checked against the
/// manifest before anything is read into the run.
/// </summary>
/// <remarks>
/// The epoch order and the dropout masks need no state of their own: both are functions of (seed, epoch) and (seed, step)
/// (<see cref="EpochOrder"/>), so the global step is enough to continue with the same batches and masks.
/// </remarks>
internal static class MultiTaskCheckpoint
{
    /// <summary>The files each task has in the checkpoint, under <c>NAME/</c>.</summary>
    internal static readonly string[] TaskFiles = ["adapter.safetensors", "optimizer.bin", "avf.safetensors", MetricsLog.FileName];

    private const string AdapterFile = "adapter.safetensors";
    private const string OptimizerFile = "optimizer.bin";
    private const string AvfFile = "avf.safetensors";

    /// <summary>Writes the checkpoint, replacing the previous one.</summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <param name="bank">The model and its bank (one adapter per task).</param>
    /// <param name="optimizers">Each task's optimizer, in <paramref name="state"/>'s task order.</param>
    /// <param name="avf">Each task's AVF scheduler, in the same order.</param>
    /// <param name="state">Step and bookkeeping.</param>
    /// <param name="metrics">Each task's metrics log as of <see cref="MultiTaskCheckpointState.Step"/>.</param>
    public static void Save(string directory, BankModel bank, IReadOnlyList<OptimizerHelper> optimizers, IReadOnlyList<AvfScheduler> avf, MultiTaskCheckpointState state, IReadOnlyDictionary<string, MetricsLog> metrics)
    {
        ArgumentNullException.ThrowIfNull(bank);
        ArgumentNullException.ThrowIfNull(state);
        TrainingCheckpoint.WriteFolder(directory, fresh =>
        {
            var files = new List<string>();
            for (int k = 0; k < state.Tasks.Count; k++)
            {
                string name = state.Tasks[k].Name;
                string folder = Path.Combine(fresh, name);
                Directory.CreateDirectory(folder);
                // Mid-run: the warning about AVF steps not yet taken does not apply.
                _ = bank.Bank.Save(name, Path.Combine(folder, AdapterFile), avf[k]);
                optimizers[k].save_state_dict(Path.Combine(folder, OptimizerFile));
                TrainingCheckpoint.SaveAvf(Path.Combine(folder, AvfFile), avf[k]);
                File.WriteAllText(Path.Combine(folder, MetricsLog.FileName), metrics[name].ToJson());
                files.AddRange(TaskFiles.Select(f => $"{name}/{f}"));
            }

            File.WriteAllText(Path.Combine(fresh, TrainingCheckpoint.StateFile), JsonSerializer.Serialize(state, TrainingCheckpoint.Json));
            files.Add(TrainingCheckpoint.StateFile);
            return files;
        });
    }

    /// <summary>
    /// Reads the checkpoint after checking every file against its manifest (and that the manifest lists every file of each task
    /// <c>state.json</c> names); parses <c>state.json</c> and each task's metrics. Nothing is restored yet.
    /// </summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <returns>The verified checkpoint.</returns>
    /// <exception cref="FileNotFoundException">There is no checkpoint.</exception>
    /// <exception cref="InvalidDataException">A file is missing, truncated, altered or unreadable; the message names it.</exception>
    public static VerifiedMultiTaskCheckpoint Open(string directory)
    {
        var (folder, listed) = TrainingCheckpoint.VerifyFolder(directory, [TrainingCheckpoint.StateFile], IsCheckpointFile);
        string statePath = Path.Combine(folder, TrainingCheckpoint.StateFile);
        MultiTaskCheckpointState state = TrainingCheckpoint.Parse(statePath, json => JsonSerializer.Deserialize<MultiTaskCheckpointState>(json, TrainingCheckpoint.Json));
        if (state.Tasks is null || state.Tasks.Count == 0 || state.Tasks.Any(t => t?.Name is null || !NamedFile.IsValidName(t.Name) || t.Train is null || t.Dev is null || t.Labels is null))
        {
            throw TrainingCheckpoint.Damaged(folder, $"{statePath} names no tasks, or a task without a valid name, files or labels (it is not a multi-task checkpoint, or it was edited)");
        }

        string manifest = Path.Combine(folder, TrainingCheckpoint.ManifestFile);
        foreach (string file in state.Tasks.SelectMany(t => TaskFiles.Select(f => $"{t.Name}/{f}")).Where(f => !listed.Contains(f)))
        {
            throw TrainingCheckpoint.Damaged(folder, $"{manifest} does not list {file}");
        }

        var metrics = new Dictionary<string, MetricsLog>(StringComparer.Ordinal);
        foreach (CheckpointTask task in state.Tasks)
        {
            metrics[task.Name] = TrainingCheckpoint.Parse(Path.Combine(folder, task.Name, MetricsLog.FileName), MetricsLog.FromJson);
        }

        return new VerifiedMultiTaskCheckpoint(folder, state, metrics);
    }

    /// <summary>
    /// The differences between a checkpoint's tasks and this run's, one line each (empty when it belongs to this run): the task names
    /// and their order, and each task's train and dev files (size and SHA-256), training examples and labels.
    /// </summary>
    /// <param name="saved">The checkpoint's tasks.</param>
    /// <param name="now">This run's tasks (built as <see cref="MultiTaskTrainer"/> builds them, without losses).</param>
    /// <returns>The differences.</returns>
    public static IReadOnlyList<string> Differences(IReadOnlyList<CheckpointTask> saved, IReadOnlyList<CheckpointTask> now)
    {
        ArgumentNullException.ThrowIfNull(saved);
        ArgumentNullException.ThrowIfNull(now);
        if (!saved.Select(t => t.Name).SequenceEqual(now.Select(t => t.Name), StringComparer.Ordinal))
        {
            return [$"the checkpoint trains the tasks {string.Join(", ", saved.Select(t => t.Name))} (in this order); this command trains {string.Join(", ", now.Select(t => t.Name))}"];
        }

        var problems = new List<string>();
        foreach (var (was, @is) in saved.Zip(now))
        {
            if (!was.Train.SameContent(@is.Train))
            {
                problems.Add($"task {was.Name}: --train was {was.Train}, now {@is.Train}");
            }

            if (!was.Dev.SameContent(@is.Dev))
            {
                problems.Add($"task {was.Name}: --dev was {was.Dev}, now {@is.Dev}");
            }

            if (was.TrainExamples != @is.TrainExamples)
            {
                problems.Add($"task {was.Name}: {was.TrainExamples} training examples then, {@is.TrainExamples} now (--max-train-examples or the columns differ)");
            }

            if (!was.Labels.SequenceEqual(@is.Labels, StringComparer.Ordinal))
            {
                problems.Add($"task {was.Name}: labels [{string.Join(", ", was.Labels)}] then, [{string.Join(", ", @is.Labels)}] now");
            }
        }

        return problems;
    }

    /// <summary>
    /// Restores every task's adapter, optimizer state and AVF state from a verified checkpoint into this run's (fresh) bank,
    /// optimizers and schedulers. Each adapter file is first loaded and checked against the base into a temporary bank entry and
    /// copied out, and each AVF file read, before any of the run's tensors is written.
    /// </summary>
    /// <param name="checkpoint">The checkpoint <see cref="Open"/> verified, whose tasks <see cref="Differences"/> found equal to this run's.</param>
    /// <param name="bank">The model and its bank, one adapter per task, as freshly built.</param>
    /// <param name="optimizers">Each task's fresh optimizer, in task order.</param>
    /// <param name="avf">Each task's fresh AVF scheduler, in task order.</param>
    /// <exception cref="InvalidDataException">A file does not fit this run; the message names it.</exception>
    public static void Restore(VerifiedMultiTaskCheckpoint checkpoint, BankModel bank, IReadOnlyList<OptimizerHelper> optimizers, IReadOnlyList<AvfScheduler> avf)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(bank);
        string folder = checkpoint.Folder;
        IReadOnlyList<CheckpointTask> tasks = checkpoint.State.Tasks;
        var values = new List<List<Tensor>>();
        var states = new List<AvfState>();
        try
        {
            foreach (CheckpointTask task in tasks)
            {
                values.Add(ReadAdapter(folder, bank.Bank, task.Name));
                states.Add(TrainingCheckpoint.ReadAvf(folder, Path.Combine(folder, task.Name, AvfFile)));
            }

            for (int k = 0; k < tasks.Count; k++)
            {
                using (no_grad())
                {
                    foreach (var ((_, live), saved) in bank.Bank.GetTensors(tasks[k].Name).Zip(values[k]))
                    {
                        live.copy_(saved);
                    }
                }

                TrainingCheckpoint.RestoreOptimizer(folder, Path.Combine(folder, tasks[k].Name, OptimizerFile), optimizers[k]);
                try
                {
                    avf[k].load_state_dict(states[k]);
                }
                catch (ArgumentException e)
                {
                    throw TrainingCheckpoint.Damaged(folder, $"{Path.Combine(folder, tasks[k].Name, AvfFile)} does not fit this run's AVF scheduler for {tasks[k].Name} ({e.Message})", e);
                }
            }
        }
        finally
        {
            foreach (Tensor t in values.SelectMany(v => v))
            {
                t.Dispose();
            }
        }
    }

    /// <summary>Whether a manifest line may name <paramref name="file"/>: <c>state.json</c>, or <c>NAME/FILE</c> for a valid task name and a task file.</summary>
    private static bool IsCheckpointFile(string file) =>
        file == TrainingCheckpoint.StateFile
        || (file.Split('/') is [var task, var name] && NamedFile.IsValidName(task) && TaskFiles.Contains(name));

    /// <summary>Loads a task's adapter file into a temporary entry of the bank (checked against the base), copies its tensors out, and removes the entry.</summary>
    private static List<Tensor> ReadAdapter(string folder, AdapterBank bank, string name)
    {
        string path = Path.Combine(folder, name, AdapterFile);
        string temporary = $"{name}/checkpoint"; // '/' is never in a task name
        try
        {
            bank.Load(temporary, path);
        }
        catch (AdapterException e)
        {
            throw TrainingCheckpoint.Damaged(folder, $"{path} could not be loaded as {name}'s adapter on this base ({e.Message})", e);
        }

        try
        {
            var expected = bank.GetTensors(name);
            var loaded = bank.GetTensors(temporary);
            if (!expected.Select(t => (t.key, string.Join(",", t.tensor.shape), t.tensor.dtype)).SequenceEqual(loaded.Select(t => (t.key, string.Join(",", t.tensor.shape), t.tensor.dtype))))
            {
                throw TrainingCheckpoint.Damaged(folder, $"{path} does not hold {name}'s tensors with this run's names and shapes");
            }

            return loaded.Select(t => t.tensor.detach().clone()).ToList();
        }
        finally
        {
            bank.Unload(temporary);
        }
    }
}
