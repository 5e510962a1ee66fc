using System.Diagnostics;
using System.Globalization;
using System.Text;
using GlueFineTune.Data;
using GlueFineTune.Metrics;
using GlueFineTune.Outputs;
using GlueFineTune.Training;
using TorchSharp;
using TorchSharp.Modules;
using VectorFit;
using VectorFit.Serialization;
using static TorchSharp.torch;

namespace GlueFineTune.MultiTask;

/// <summary>How a multi-task run ended.</summary>
/// <param name="Completed">All steps ran (otherwise Ctrl+C stopped it and nothing was saved).</param>
/// <param name="Step">Steps done.</param>
/// <param name="Metrics">Each task's metrics log (also in <c>OUTPUT/NAME/metrics.json</c>).</param>
/// <param name="Adapters">Each task's adapter file.</param>
internal sealed record MultiTaskOutcome(bool Completed, long Step, IReadOnlyDictionary<string, MetricsLog> Metrics, IReadOnlyDictionary<string, string> Adapters);

/// <summary>
/// Multi-task training: one adapter (σ, b, head) per task on one base model (<see cref="VectorFit.Adapters.AdapterBank"/>),
/// trained in mixed batches (each epoch shuffles the union of the tasks' examples, so a batch holds rows of several tasks) with
/// one routed forward and backward pass per batch. The loss is <c>Σ_k mean_{rows(k)} ℓ</c> (<see cref="RoutedLoss"/>), so each
/// adapter's gradient is that of its rows alone under a mean loss; each adapter has its own AdamW, stepped only when its task
/// has rows in the batch, so an adapter's trajectory is that of training it alone on its rows of the mixed batches.
/// </summary>
/// <remarks>
/// Per-adapter AVF (the VectorFit variant, the default): each adapter has its own <see cref="AvfScheduler"/>
/// (<see cref="VectorFit.Adapters.AdapterBank.CreateAvfScheduler"/>), stepped after its optimizer only in the batches that hold its
/// rows, so its AVF steps fall on its own step count. The shared schedule is turned into each adapter's steps: a schedule in epochs
/// (the default, or <c>--avf-start-epoch</c>) uses the adapter's steps per epoch (its planned steps over the planned epochs, from the
/// epoch order), and one in steps (<c>--t-i</c>, <c>--t-f</c>) counts the adapter's own steps.
/// </remarks>
internal sealed class MultiTaskTrainer : IDisposable
{
    private readonly MultiTaskOptions options;
    private readonly BankModel bank;
    private readonly EncodedDataset train;
    private readonly int[] taskOfRow;
    private readonly int[] bankIndex;
    private readonly EncodedDataset[] dev;
    private readonly VectorFit.Optim.AdamW[] optimizers;
    private readonly AvfScheduler[] avf;
    private readonly TextWriter log;

    /// <summary>Builds the base model, one adapter and one optimizer per task, and tokenises every split.</summary>
    /// <param name="options">The run.</param>
    /// <param name="log">Where the run is described.</param>
    public MultiTaskTrainer(MultiTaskOptions options, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        this.options = options;
        this.log = log;
        TrainingOptions settings = options.Settings;
        // The same seeding as a single-task run (TrainingSession): the head starts from the same random values.
        manual_seed(settings.Seed);
        bank = BankModel.Create(settings.ModelDirectory, options.Tasks[0].Data.Task.NumLabels, settings.Pooling, settings.Variant);
        try
        {
            foreach (string line in bank.Load.Describe())
            {
                log.WriteLine(line);
            }

            log.WriteLine(TrainingSession.DescribePooling(bank.Model, bank.Load, bank.Head));
            var examples = new List<GlueExample>();
            var owners = new List<int>();
            for (int k = 0; k < options.Tasks.Count; k++)
            {
                examples.AddRange(options.Tasks[k].Data.Train);
                owners.AddRange(Enumerable.Repeat(k, options.Tasks[k].Data.Train.Count));
            }

            taskOfRow = [.. owners];
            int vocabulary = bank.Model.Config.VocabSize;
            train = new EncodedDataset(bank.Tokenizer, examples, options.Tasks[0].Data.Task, settings.MaxLength, vocabulary);
            dev = options.Tasks.Select(t => new EncodedDataset(bank.Tokenizer, t.Data.Dev, t.Data.Task, settings.MaxLength, vocabulary)).ToArray();
            bankIndex = options.Tasks.Select(t => bank.Bank.Add(t.Name)).ToArray();
            optimizers = options.Tasks
                .Select(t => new VectorFit.Optim.AdamW(bank.Bank.GetTrainableParameters(t.Name), lr: settings.LearningRate, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0))
                .ToArray();
            StepsPerEpoch = (train.Count + settings.BatchSize - 1) / settings.BatchSize;
            TotalSteps = Math.Min(StepsPerEpoch * settings.Epochs, settings.MaxSteps ?? long.MaxValue);
            long perAdapter = bank.Bank.GetTrainableParameters(options.Tasks[0].Name).Sum(p => p.numel());
            log.WriteLine($"multi-task: {options.Tasks.Count} adapters on one base ({bank.Surgery.Layers.Count} adapted layers, {VariantNames.Name(settings.Variant)}), {perAdapter:N0} trained values each (σ, b, head); "
                + $"{string.Join(", ", options.Tasks.Select(t => $"{t.Name} {t.Data.Train.Count} train / {t.Data.Dev.Count} dev"))}");
            long[] planned = AdapterSteps(StepsPerEpoch * settings.Epochs); // the schedule follows the planned epochs, as a single task's does
            long[] run = AdapterSteps(TotalSteps);
            AdapterTotalSteps = options.Tasks.Select((t, k) => (t.Name, run[k])).ToDictionary(p => p.Name, p => p.Item2, StringComparer.Ordinal);
            avf = new AvfScheduler[options.Tasks.Count];
            for (int k = 0; k < options.Tasks.Count; k++)
            {
                avf[k] = CreateScheduler(k, planned[k], run[k]);
            }
            bank.Model.train();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Steps per epoch: the union of the tasks' examples over the batch size.</summary>
    public long StepsPerEpoch { get; }

    /// <summary>Steps in the run.</summary>
    public long TotalSteps { get; }

    /// <summary>Each task's optimizer steps in this run: the batches that hold its rows (its AVF counts these).</summary>
    public IReadOnlyDictionary<string, long> AdapterTotalSteps { get; }

    /// <summary>Each task's AVF scheduler (AVF off for variants without it: it then only tracks training strength).</summary>
    /// <param name="task">The task's name.</param>
    /// <returns>The scheduler.</returns>
    /// <exception cref="ArgumentException">No task has that name.</exception>
    public AvfScheduler Avf(string task)
    {
        int k = options.Tasks.ToList().FindIndex(t => t.Name == task);
        return k >= 0 ? avf[k] : throw new ArgumentException($"no task is called \"{task}\"; the tasks are {string.Join(", ", options.Tasks.Select(t => t.Name))}.", nameof(task));
    }

    /// <summary>The model and its bank (tests read the adapters' tensors).</summary>
    internal BankModel Bank => bank;

    /// <summary>
    /// Called after each adapter's optimizer step and AVF step with the task's name and the global step (only for the tasks with
    /// rows in that batch).
    /// </summary>
    public Action<string, long>? AfterAdapterStep { get; init; }

    /// <summary>
    /// The multi-task loss of a routed batch: <c>Σ_k mean_{i ∈ rows(k)} ℓ_i</c>, the sum over the tasks present of the mean
    /// cross-entropy of their rows, so that adapter k's gradient equals that of a batch of its rows alone (see AdapterBank.Route).
    /// </summary>
    /// <param name="logits">The logits <c>(batch, classes)</c>.</param>
    /// <param name="labels">The class ids <c>(batch)</c>, int64.</param>
    /// <param name="taskOfRow">Each row's task (any integer key).</param>
    /// <returns>The loss (a scalar) and each row's cross-entropy <c>(batch)</c>, both in the current dispose scope.</returns>
    public static (Tensor Loss, Tensor PerRow) RoutedLoss(Tensor logits, Tensor labels, IReadOnlyList<int> taskOfRow)
    {
        ArgumentNullException.ThrowIfNull(logits);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(taskOfRow);
        if (logits.shape[0] != taskOfRow.Count || labels.shape[0] != taskOfRow.Count)
        {
            throw new ArgumentException($"the batch has {logits.shape[0]} rows of logits and {labels.shape[0]} labels but {taskOfRow.Count} task ids; give one task per row.", nameof(taskOfRow));
        }

        var counts = taskOfRow.GroupBy(t => t).ToDictionary(g => g.Key, g => g.Count());
        float[] weights = taskOfRow.Select(t => 1f / counts[t]).ToArray();
        Tensor perRow = nn.functional.cross_entropy(logits, labels, reduction: nn.Reduction.None);
        Tensor w = tensor(weights, dtype: perRow.dtype, device: perRow.device);
        return (perRow.mul(w).sum(), perRow);
    }

    /// <summary>Trains every adapter, evaluates each task's dev set at each epoch end, and saves each adapter.</summary>
    /// <param name="progressWriter">Where the progress line goes.</param>
    /// <param name="interactive">Redraw the progress line in place.</param>
    /// <param name="cancellation">Ctrl+C: stops after the current step (nothing is saved: multi-task runs have no checkpoint yet).</param>
    /// <returns>How the run ended.</returns>
    public MultiTaskOutcome Run(TextWriter progressWriter, bool interactive, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(progressWriter);
        TrainingOptions settings = options.Settings;
        Directory.CreateDirectory(settings.OutputDirectory);
        long spe = StepsPerEpoch;
        int epochs = (int)((TotalSteps + spe - 1) / spe);
        var metrics = options.Tasks.ToDictionary(t => t.Name, t => NewLog(t), StringComparer.Ordinal);
        var progress = new ProgressDisplay(progressWriter, interactive, settings.BatchSize, 0);
        var clock = Stopwatch.StartNew();
        int k = options.Tasks.Count;
        var lossSum = new double[k];
        var lossRows = new long[k];
        double smoothed = double.NaN;
        int[]? order = null;
        int orderEpoch = -1;
        long step = 0;
        while (step < TotalSteps)
        {
            if (cancellation.IsCancellationRequested)
            {
                progress.Break();
                log.WriteLine($"interrupted at step {step}/{TotalSteps}; multi-task training has no checkpoint yet, so nothing was saved.");
                return new MultiTaskOutcome(false, step, metrics, new Dictionary<string, string>());
            }

            int epoch = (int)(step / spe);
            if (epoch != orderEpoch)
            {
                order = EpochOrder.Permutation(train.Count, settings.Seed, epoch);
                orderEpoch = epoch;
            }

            long next = step + 1;
            double lr = LearningRates.At(settings.Schedule, settings.LearningRate, next, TotalSteps);
            int start = (int)((next - 1 - (epoch * spe)) * settings.BatchSize);
            int[] indices = order![start..Math.Min(start + settings.BatchSize, order.Length)];
            double loss = TrainStep(indices, lr, next, lossSum, lossRows);
            step = next;
            NativeHeap.Trim();
            smoothed = double.IsNaN(smoothed) ? loss : (0.9 * smoothed) + (0.1 * loss);
            bool epochEnd = step % spe == 0 || step == TotalSteps;
            progress.Report(new ProgressSample(step, TotalSteps, epoch + 1, epochs, smoothed, lr, avf.Sum(a => a.FrozenSet.Count)), force: epochEnd);
            if (epochEnd)
            {
                progress.Break();
                EndEpoch(metrics, epoch + 1, step, lossSum, lossRows, lr, clock.Elapsed);
                Array.Clear(lossSum);
                Array.Clear(lossRows);
            }
        }

        var adapters = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (TaskData task in options.Tasks)
        {
            string folder = Path.Combine(settings.OutputDirectory, task.Name);
            Directory.CreateDirectory(folder);
            string path = Path.Combine(folder, RunOutputs.AdapterFileName);
            AvfScheduler scheduler = avf[options.Tasks.ToList().IndexOf(task)];
            if (scheduler.Options.Enabled)
            {
                // The adapter records its AVF schedule and the AVF steps it took, as a single task's does.
                var saved = bank.Bank.Save(task.Name, path, scheduler);
                if (saved.Warning is { } warning)
                {
                    log.WriteLine($"warning: {task.Name}: {warning}");
                }
            }
            else
            {
                bank.Bank.Save(task.Name, path);
            }

            AdapterLabels.Write(path, task.Data.Task.LabelNames);
            WriteStrength(folder, task, scheduler);
            adapters[task.Name] = path;
        }

        return new MultiTaskOutcome(true, step, metrics, adapters);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var optimizer in optimizers ?? [])
        {
            optimizer.Dispose();
        }

        bank?.Dispose();
    }

    private double TrainStep(int[] indices, double lr, long step, double[] lossSum, long[] lossRows)
    {
        using var scope = NewDisposeScope();
        manual_seed(EpochOrder.StepSeed(options.Settings.Seed, step)); // dropout masks depend only on (seed, step)
        int[] tasks = indices.Select(i => taskOfRow[i]).ToArray();
        int[] present = tasks.Distinct().Order().ToArray();
        TensorBatch batch = train.MakeBatch(indices);
        Tensor logits;
        using (bank.Bank.Route(tasks.Select(t => bankIndex[t]).ToArray()))
        {
            logits = bank.Model.call(batch.InputIds, batch.AttentionMask, batch.TokenTypeIds);
        }

        var (loss, perRow) = RoutedLoss(logits, batch.Labels, tasks);
        double value = loss.item<float>();
        if (!double.IsFinite(value))
        {
            throw new TrainingDivergedException($"the training loss is {value} at step {step}: training diverged. Start again with a smaller --lr than {options.Settings.LearningRate.ToString(CultureInfo.InvariantCulture)}.");
        }

        float[] rowLosses = perRow.detach().to_type(ScalarType.Float32).data<float>().ToArray();
        for (int r = 0; r < tasks.Length; r++)
        {
            lossSum[tasks[r]] += rowLosses[r];
            lossRows[tasks[r]]++;
        }

        // Null gradients (not zero tensors): an adapter absent from the batch gets none, and a frozen vector keeps none.
        bank.Bank.ClearGradients();
        loss.backward();
        foreach (int t in present)
        {
            foreach (var group in optimizers[t].ParamGroups)
            {
                group.LearningRate = lr;
            }

            // Only the adapters with rows in this batch step: an absent adapter keeps its values and its AdamW moments.
            optimizers[t].step();
            avf[t].step(); // the adapter's own step count: only the batches with its rows
            AfterAdapterStep?.Invoke(options.Tasks[t].Name, step);
        }

        return value / present.Length; // the mean over the tasks present of their mean loss
    }

    private void EndEpoch(Dictionary<string, MetricsLog> metrics, int epoch, long step, double[] lossSum, long[] lossRows, double lr, TimeSpan elapsed)
    {
        var parts = new List<string>();
        for (int t = 0; t < options.Tasks.Count; t++)
        {
            TaskData task = options.Tasks[t];
            bank.Bank.Activate(task.Name);
            TaskEvaluation evaluation = DevEvaluation.Run(bank.Model, dev[t], task.Data.Task, options.Settings.EvalBatchSize);
            double trainLoss = lossRows[t] > 0 ? lossSum[t] / lossRows[t] : double.NaN;
            MetricsLog log = metrics[task.Name];
            log.Epochs.Add(new EpochMetrics
            {
                Epoch = epoch,
                Step = step,
                TrainLoss = trainLoss,
                LearningRate = lr,
                Dev = evaluation.ToDictionary(),
                FrozenVectors = avf[t].FrozenSet.Select(v => v.Name).ToList(),
                ElapsedSeconds = Math.Round(elapsed.TotalSeconds, 3),
            });
            string folder = Path.Combine(options.Settings.OutputDirectory, task.Name);
            Directory.CreateDirectory(folder);
            AtomicFile.Write(Path.Combine(folder, MetricsLog.FileName), s => s.Write(Encoding.UTF8.GetBytes(log.ToJson())));
            string frozen = avf[t].FrozenSet.Count > 0 ? $", {avf[t].FrozenSet.Count} vectors frozen" : string.Empty;
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"{task.Name}: train loss {trainLoss:F4}, dev {evaluation}{frozen}"));
        }

        bank.Bank.Activate(VectorFit.Adapters.AdapterBank.BaseName);
        NativeHeap.Trim();
        log.WriteLine($"epoch {epoch}: {string.Join("; ", parts)}");
    }

    /// <summary>Each task's optimizer steps over the first <paramref name="steps"/> global steps: the batches of the epoch orders that hold its rows.</summary>
    private long[] AdapterSteps(long steps)
    {
        int batch = options.Settings.BatchSize;
        var counts = new long[options.Tasks.Count];
        for (long done = 0, epoch = 0; done < steps; epoch++)
        {
            int[] order = EpochOrder.Permutation(train.Count, options.Settings.Seed, (int)epoch);
            for (int start = 0; start < order.Length && done < steps; start += batch, done++)
            {
                foreach (int k in order[start..Math.Min(start + batch, order.Length)].Select(i => taskOfRow[i]).Distinct())
                {
                    counts[k]++;
                }
            }
        }

        return counts;
    }

    /// <summary>Task <paramref name="k"/>'s scheduler: the run's AVF schedule in the adapter's own steps, and the log line saying it.</summary>
    private AvfScheduler CreateScheduler(int k, long plannedSteps, long runSteps)
    {
        TrainingOptions settings = options.Settings;
        string name = options.Tasks[k].Name;
        if (!settings.UsesAvf)
        {
            return bank.Bank.CreateAvfScheduler(name, AvfOptions.None, runSteps > 0 ? runSteps : null);
        }

        // The adapter's steps per epoch: its planned steps over the planned epochs (a batch holds its rows or not, so it varies by epoch).
        long perEpoch = Math.Max(1, (long)Math.Round((double)plannedSteps / settings.Epochs, MidpointRounding.AwayFromZero));
        AvfOptions schedule;
        try
        {
            schedule = settings.AvfSchedule(perEpoch);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"task {name} ({perEpoch} steps per epoch: the batches that hold its rows): {e.Message}", e);
        }

        AvfScheduler scheduler = bank.Bank.CreateAvfScheduler(name, schedule, runSteps > 0 ? runSteps : null);
        string fit = scheduler.ScheduleWarning is null ? string.Empty
            : schedule.InitialStep > runSteps ? $" — AVF does not start: this adapter takes {runSteps} steps, before its first AVF step, so nothing is frozen"
            : $" — only the AVF steps up to its step {runSteps} (this run's end) run, not all {schedule.AvfSteps}";
        string epochs = settings.AvfStartEpoch is { } start
            ? string.Create(CultureInfo.InvariantCulture, $" (from epoch {start:0.###} every {settings.AvfEveryEpochs ?? 1:0.###} epochs of {perEpoch} steps)")
            : string.Empty;
        log.WriteLine($"AVF {name}: {runSteps} steps of its own (batches with its rows); t_i {schedule.InitialStep}, t_f {schedule.Interval}, n_f {schedule.AvfSteps}, k {schedule.K}, β {schedule.Beta.ToString(CultureInfo.InvariantCulture)}{epochs}{fit}");
        return scheduler;
    }

    /// <summary>The task's training strength per vector (avf_strength.csv, avf_vectors.csv, avf_strength.svg), as a single task writes.</summary>
    private void WriteStrength(string folder, TaskData task, AvfScheduler scheduler)
    {
        AvfStrengthMatrix matrix = AvfStrengthMatrix.From(scheduler, bank.Surgery.Layers);
        AtomicFile.Write(Path.Combine(folder, "avf_strength.csv"), s => s.Write(Encoding.UTF8.GetBytes(matrix.ToMatrixCsv())));
        AtomicFile.Write(Path.Combine(folder, "avf_vectors.csv"), s => s.Write(Encoding.UTF8.GetBytes(matrix.ToVectorsCsv())));
        string title = $"AVF training strength — {task.Name}, {options.Settings.MethodDisplay} (multi-task)";
        string metricsPath = Path.Combine(folder, MetricsLog.FileName);
        MetricsLog? metrics = File.Exists(metricsPath) ? MetricsLog.FromJson(File.ReadAllText(metricsPath)) : null;
        AtomicFile.Write(Path.Combine(folder, "avf_strength.svg"), s => s.Write(Encoding.UTF8.GetBytes(HeatMapSvg.Render(matrix, title, metrics?.Epochs, metrics?.MainMetric))));
    }

    private MetricsLog NewLog(TaskData task) => new()
    {
        Task = task.Name,
        Variant = VariantNames.Name(options.Settings.Variant),
        Method = "vectorfit (multi-task, routed batches)",
        Model = options.Settings.ModelDirectory,
        MainMetric = task.Data.Task.MainMetric.Name(),
        AdapterParameters = bank.Surgery.AdapterParameterCount,
        TrainableParameters = bank.Surgery.TrainableParameterCount,
        Settings = options.Settings.Describe() + $"; multi-task with {string.Join(", ", options.Tasks.Select(t => t.Name))}",
    };
}
