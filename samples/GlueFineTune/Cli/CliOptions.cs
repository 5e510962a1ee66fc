namespace GlueFineTune.Cli;

/// <summary>The command line as parsed: every option the user gave, unset ones <c>null</c>.</summary>
internal sealed record CliOptions
{
    /// <summary>The verb (<see cref="CliParser.ImportVerb"/>, <see cref="CliParser.PredictVerb"/>), or <c>null</c> for training and the demo.</summary>
    public string? Verb { get; init; }

    /// <summary><c>import-onnx --onnx</c>.</summary>
    public string? Onnx { get; init; }

    /// <summary><c>import-onnx --vocab</c>.</summary>
    public string? Vocab { get; init; }

    /// <summary><c>import-onnx --assembly</c>.</summary>
    public string? Assembly { get; init; }

    /// <summary><c>import-onnx --out</c>.</summary>
    public string? Out { get; init; }

    /// <summary><c>import-onnx --num-heads</c>.</summary>
    public int? NumHeads { get; init; }

    /// <summary><c>--help</c>.</summary>
    public bool Help { get; init; }

    /// <summary><c>--version</c>.</summary>
    public bool Version { get; init; }

    /// <summary><c>--demo</c>.</summary>
    public bool Demo { get; init; }

    /// <summary><c>--distributed</c>.</summary>
    public bool Distributed { get; init; }

    /// <summary><c>--resume</c>.</summary>
    public bool Resume { get; init; }

    /// <summary><c>--task</c>.</summary>
    public string? Task { get; init; }

    /// <summary><c>--data</c>.</summary>
    public string? Data { get; init; }

    /// <summary><c>--model</c>.</summary>
    public string? Model { get; init; }

    /// <summary><c>--output</c>.</summary>
    public string? Output { get; init; }

    /// <summary><c>--variant</c>.</summary>
    public string? Variant { get; init; }

    /// <summary><c>--train</c>.</summary>
    public string? Train { get; init; }

    /// <summary><c>--dev</c>.</summary>
    public string? Dev { get; init; }

    /// <summary>Every <c>--train</c> value in order (multi-task training repeats it: <c>--train NAME=FILE</c> per task).</summary>
    public IReadOnlyList<string> TrainSets { get; init; } = [];

    /// <summary>Every <c>--dev</c> value in order (multi-task training: <c>--dev NAME=FILE</c> per task).</summary>
    public IReadOnlyList<string> DevSets { get; init; } = [];

    /// <summary><c>predict --adapter NAME=FILE</c>, every value in order.</summary>
    public IReadOnlyList<string> Adapters { get; init; } = [];

    /// <summary><c>predict --input</c>.</summary>
    public string? Input { get; init; }

    /// <summary><c>predict --task-column</c>.</summary>
    public string? TaskColumn { get; init; }

    /// <summary><c>predict --id-column</c>.</summary>
    public string? IdColumn { get; init; }

    /// <summary><c>--text-column</c>.</summary>
    public string? TextColumn { get; init; }

    /// <summary><c>--text-pair-column</c>.</summary>
    public string? TextPairColumn { get; init; }

    /// <summary><c>--label-column</c>.</summary>
    public string? LabelColumn { get; init; }

    /// <summary><c>--regression</c>.</summary>
    public bool Regression { get; init; }

    /// <summary><c>--avf-start-epoch</c>.</summary>
    public double? AvfStartEpoch { get; init; }

    /// <summary><c>--avf-every-epochs</c>.</summary>
    public double? AvfEveryEpochs { get; init; }

    /// <summary><c>--method</c>.</summary>
    public string? Method { get; init; }

    /// <summary><c>--svft-pattern</c>.</summary>
    public string? SvftPattern { get; init; }

    /// <summary><c>--factor-dtype</c>.</summary>
    public string? FactorDType { get; init; }

    /// <summary><c>--pooling</c>.</summary>
    public string? Pooling { get; init; }

    /// <summary><c>--epochs</c>.</summary>
    public int? Epochs { get; init; }

    /// <summary><c>--batch-size</c>.</summary>
    public int? BatchSize { get; init; }

    /// <summary><c>--lr</c>.</summary>
    public double? LearningRate { get; init; }

    /// <summary><c>--lr-schedule</c>.</summary>
    public string? LearningRateSchedule { get; init; }

    /// <summary><c>--max-length</c>.</summary>
    public int? MaxLength { get; init; }

    /// <summary><c>--seed</c>.</summary>
    public int? Seed { get; init; }

    /// <summary><c>--t-i</c>.</summary>
    public long? InitialStep { get; init; }

    /// <summary><c>--t-f</c>.</summary>
    public long? Interval { get; init; }

    /// <summary><c>--n-f</c>.</summary>
    public int? AvfSteps { get; init; }

    /// <summary><c>--k</c>.</summary>
    public int? K { get; init; }

    /// <summary><c>--threads</c>.</summary>
    public int? Threads { get; init; }

    /// <summary><c>--max-steps</c>.</summary>
    public long? MaxSteps { get; init; }

    /// <summary><c>--max-train-examples</c>.</summary>
    public int? MaxTrainExamples { get; init; }

    /// <summary><c>--eval-batch-size</c>.</summary>
    public int? EvalBatchSize { get; init; }
}
