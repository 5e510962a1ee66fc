namespace VectorFit;

/// <summary>One of the paper's fine-tuning settings: the task, its training hyperparameters and its AVF schedule.</summary>
/// <param name="Task">The task's name as the paper writes it, e.g. <c>"MNLI"</c>.</param>
/// <param name="Model">The base model the paper fine-tuned.</param>
/// <param name="Table">The paper's table the numbers come from (7, 9, 11 or 13).</param>
/// <param name="Epochs">Training epochs.</param>
/// <param name="BatchSize">Batch size.</param>
/// <param name="LearningRate">Learning rate (AdamW, β1 0.9, β2 0.999, no warmup, no weight decay).</param>
/// <param name="AvfOptions">The AVF schedule (<c>t_i</c>, <c>t_f</c>, <c>n_f</c>, <c>k</c> = 5, β = 0.99).</param>
public sealed record AvfPreset(string Task, string Model, int Table, int Epochs, int BatchSize, double LearningRate, AvfOptions AvfOptions);

/// <summary>The paper's AVF settings (method §3; paper Tables 7, 9, 11 and 13), k = 5 and β = 0.99 throughout.</summary>
public static class AvfPresets
{
    private const string DeBerta = "DeBERTaV3-base";

    /// <summary>GLUE MNLI (Table 7): 20 epochs, t_i 135000, t_f 10000, n_f 5.</summary>
    public static AvfPreset Mnli { get; } = Glue("MNLI", 20, 135000, 10000, 5);

    /// <summary>GLUE SST-2 (Table 7): 30 epochs, t_i 23200, t_f 2100, n_f 10.</summary>
    public static AvfPreset Sst2 { get; } = Glue("SST-2", 30, 23200, 2100, 10);

    /// <summary>GLUE CoLA (Table 7): 35 epochs, t_i 3000, t_f 200, n_f 5.</summary>
    public static AvfPreset Cola { get; } = Glue("CoLA", 35, 3000, 200, 5);

    /// <summary>GLUE QQP (Table 7): 25 epochs, t_i 125100, t_f 11000, n_f 10.</summary>
    public static AvfPreset Qqp { get; } = Glue("QQP", 25, 125100, 11000, 10);

    /// <summary>GLUE QNLI (Table 7): 25 epochs, t_i 36000, t_f 3200, n_f 10.</summary>
    public static AvfPreset Qnli { get; } = Glue("QNLI", 25, 36000, 3200, 10);

    /// <summary>GLUE RTE (Table 7): 50 epochs, t_i 800, t_f 70, n_f 27.</summary>
    public static AvfPreset Rte { get; } = Glue("RTE", 50, 800, 70, 27);

    /// <summary>GLUE MRPC (Table 7): 50 epochs, t_i 1260, t_f 110, n_f 27.</summary>
    public static AvfPreset Mrpc { get; } = Glue("MRPC", 50, 1260, 110, 27);

    /// <summary>GLUE STS-B (Table 7): 50 epochs, t_i 1900, t_f 180, n_f 27.</summary>
    public static AvfPreset Stsb { get; } = Glue("STS-B", 50, 1900, 180, 27);

    /// <summary>SQuAD v1.1 (Table 9): batch 16, lr 1e-3, 20 epochs, t_i 60700, t_f 5500, n_f 6.</summary>
    public static AvfPreset SquadV1 { get; } = new("SQuAD v1.1", DeBerta, 9, 20, 16, 1e-3, Schedule(60700, 5500, 6));

    /// <summary>SQuAD v2.0 (Table 9): batch 16, lr 1e-3, 20 epochs, t_i 90300, t_f 8200, n_f 6.</summary>
    public static AvfPreset SquadV2 { get; } = new("SQuAD v2.0", DeBerta, 9, 20, 16, 1e-3, Schedule(90300, 8200, 6));

    /// <summary>XSum (Table 11, BART-large): batch 64, lr 1e-3, 30 epochs, t_i 35070, t_f 3100, n_f 10.</summary>
    public static AvfPreset XSum { get; } = new("XSum", "BART-large", 11, 30, 64, 1e-3, Schedule(35070, 3100, 10));

    /// <summary>CNN/DailyMail (Table 11, BART-large): batch 64, lr 1e-3, 30 epochs, t_i 31500, t_f 4400, n_f 10.</summary>
    public static AvfPreset CnnDailyMail { get; } = new("CNN/DailyMail", "BART-large", 11, 30, 64, 1e-3, Schedule(31500, 4400, 10));

    /// <summary>CIFAR10 (Table 13, ViT-base): batch 128, lr 1e-3, 20 epochs, t_i 3600, t_f 300, n_f 4.</summary>
    public static AvfPreset Cifar10 { get; } = Vision("CIFAR10", 1e-3, 3600, 300);

    /// <summary>GTSRB (Table 13, ViT-base): batch 128, lr 1e-3, 20 epochs, t_i 1900, t_f 170, n_f 4.</summary>
    public static AvfPreset Gtsrb { get; } = Vision("GTSRB", 1e-3, 1900, 170);

    /// <summary>MNIST (Table 13, ViT-base): batch 128, lr 1e-2, 20 epochs, t_i 4300, t_f 350, n_f 4.</summary>
    public static AvfPreset Mnist { get; } = Vision("MNIST", 1e-2, 4300, 350);

    /// <summary>RESISC45 (Table 13, ViT-base): batch 128, lr 1e-2, 20 epochs, t_i 2300, t_f 200, n_f 4.</summary>
    public static AvfPreset Resisc45 { get; } = Vision("RESISC45", 1e-2, 2300, 200);

    /// <summary>Every preset, in the paper's table order.</summary>
    public static IReadOnlyList<AvfPreset> All { get; } =
    [
        Mnli, Sst2, Cola, Qqp, Qnli, Rte, Mrpc, Stsb, SquadV1, SquadV2, XSum, CnnDailyMail, Cifar10, Gtsrb, Mnist, Resisc45,
    ];

    /// <summary>Finds a preset by task name, ignoring case and the characters <c>-</c>, <c>/</c>, <c>.</c> and spaces (<c>"sts-b"</c>, <c>"STSB"</c>).</summary>
    /// <param name="task">The task's name.</param>
    /// <returns>The preset.</returns>
    /// <exception cref="ArgumentException">No preset has that name; the message lists the known names.</exception>
    public static AvfPreset Get(string task)
    {
        ArgumentNullException.ThrowIfNull(task);
        var key = Normalize(task);
        foreach (var preset in All)
        {
            if (Normalize(preset.Task) == key)
            {
                return preset;
            }
        }

        throw new ArgumentException(
            $"No AVF preset for task '{task}'. Known tasks: {string.Join(", ", All.Select(p => p.Task))}; " +
            "for another task build a schedule with AvfOptions.FromEpochs.",
            nameof(task));
    }

    private static string Normalize(string name)
        => new(name.Where(c => c is not ('-' or '/' or '.' or ' ')).Select(char.ToUpperInvariant).ToArray());

    private static AvfOptions Schedule(long initialStep, long interval, int avfSteps)
        => new() { InitialStep = initialStep, Interval = interval, AvfSteps = avfSteps };

    private static AvfPreset Glue(string task, int epochs, long initialStep, long interval, int avfSteps)
        => new(task, DeBerta, 7, epochs, 32, 1e-3, Schedule(initialStep, interval, avfSteps));

    private static AvfPreset Vision(string task, double learningRate, long initialStep, long interval)
        => new(task, "ViT-base", 13, 20, 128, learningRate, Schedule(initialStep, interval, 4));
}
