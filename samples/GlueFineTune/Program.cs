using System.Globalization;
using GlueFineTune.Cli;
using GlueFineTune.Data;
using GlueFineTune.Demo;
using GlueFineTune.Import;
using GlueFineTune.Metrics;
using GlueFineTune.MultiTask;
using GlueFineTune.Outputs;
using GlueFineTune.Training;
using VectorFit.Adapters;
using VectorFit.Distributed;
using VectorFit.Serialization;

namespace GlueFineTune;

/// <summary>The command-line entry point: GLUE fine-tuning with VectorFit (run with <c>--help</c>).</summary>
internal static class Program
{
    /// <summary>Exit code of a run stopped by Ctrl+C (a checkpoint was saved).</summary>
    public const int InterruptedExitCode = 130;

    private static int unhandledHandlerInstalled;

    /// <summary>Parses the command line and runs the demo or a GLUE fine-tuning.</summary>
    /// <param name="args">The arguments.</param>
    /// <returns>0 done, 1 error, 2 bad command line, 130 interrupted.</returns>
    public static int Main(string[] args)
    {
        if (Interlocked.Exchange(ref unhandledHandlerInstalled, 1) == 0)
        {
            AppDomain.CurrentDomain.UnhandledException += OnUnhandledException;
        }

        CliOptions cli;
        try
        {
            cli = CliParser.Parse(args);
        }
        catch (UsageException e)
        {
            return Usage(e, args.Length > 0 && CliParser.Verbs.Contains(args[0]) ? args[0] : null);
        }

        if (cli.Verb == CliParser.ImportVerb)
        {
            return RunImport(cli);
        }

        if (cli.Verb == CliParser.PredictVerb)
        {
            return RunPredict(cli);
        }

        if (cli.Help)
        {
            Console.WriteLine(HelpText.Text);
            return 0;
        }

        if (cli.Version)
        {
            Console.WriteLine(RuntimeVersions.Describe());
            return 0;
        }

        using var cancellation = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            if (cancellation.IsCancellationRequested)
            {
                return; // a second Ctrl+C ends the process at once
            }

            e.Cancel = true;
            cancellation.Cancel();
            Console.Error.WriteLine();
            Console.Error.WriteLine("Ctrl+C: stopping after this step and saving a checkpoint (press again to abort without one)...");
        };
        Console.CancelKeyPress += onCancel;
        MpiWorld? world = null;
        int code = 1;
        try
        {
            world = cli.Distributed ? StartMpi(cli) : null;
            // The demo's toy model is too small for intra-op parallelism to pay: one thread unless asked. Distributed: the
            // machine's cores shared by the ranks on it.
            int? threads = cli.Threads ?? (cli.Demo ? 1 : (int?)null) ?? (world is null ? (int?)null : ThreadsPerRank(world));
            if (threads is { } count)
            {
                TorchSharp.torch.set_num_threads(count);
            }

            bool interactive = !Console.IsErrorRedirected;
            if (MultiTaskOptions.Requested(cli))
            {
                return code = RunMultiTask(MultiTaskOptions.Resolve(cli), interactive, cancellation.Token);
            }

            if (cli.Demo)
            {
                var (outcome, _) = DemoRunner.Run(cli, new DemoSettings(), Console.Out, Console.Error, interactive, cancellation.Token);
                return code = outcome.Completed ? 0 : InterruptedExitCode;
            }

            return code = RunGlue(OptionResolver.Resolve(cli), cli.MaxTrainExamples, interactive && world is not { IsRoot: false }, cancellation.Token, world);
        }
        catch (UsageException e)
        {
            return code = Usage(e);
        }
        catch (Exception e) when (IsUserError(e))
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return code = 1;
        }
        catch (Exception e)
        {
            // Last resort: a bug, or an error no check above foresaw. One line on the console, the details in a log.
            return code = ReportUnexpected(e, Console.Error);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
            if (world is { Size: > 1 } && code is not (0 or InterruptedExitCode))
            {
                // The other ranks may wait in a collective for this one: end the whole job now rather than after the MPI timeout.
                world.Abort($"GlueFineTune stopped with exit code {code} (see the error above)", code);
            }

            world?.Dispose();
        }
    }

    /// <summary>
    /// <c>--distributed</c>: joins the MPI job the launcher started (one process per rank). Rank 0 alone writes to the console;
    /// the other ranks write only errors.
    /// </summary>
    private static MpiWorld StartMpi(CliOptions cli)
    {
        if (cli.Demo)
        {
            throw new UsageException("--distributed trains a --task or --train run; the demo runs in one process.");
        }

        // Open MPI's mpirun and MPICH's Hydra set these; without a launcher MPI would be a world of one rank, which is not what was asked.
        if (!new[] { "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK" }.Any(v => Environment.GetEnvironmentVariable(v) is not null))
        {
            throw new UsageException("--distributed runs under an MPI launcher, one process per rank: mpirun -np 2 dotnet GlueFineTune.dll ... --distributed "
                + "(Open MPI as root: also --allow-run-as-root); in one process, leave out --distributed.");
        }

        MpiWorld world = MpiWorld.Initialize();
        if (!world.IsRoot)
        {
            Console.SetOut(TextWriter.Null);
        }

        return world;
    }

    /// <summary>The default libtorch threads of a rank: this machine's cores over the ranks on it (mpirun says how many), at least 1.</summary>
    private static int ThreadsPerRank(MpiWorld world)
    {
        string? local = Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_LOCAL_SIZE") ?? Environment.GetEnvironmentVariable("MPI_LOCALNRANKS");
        int ranksHere = int.TryParse(local, CultureInfo.InvariantCulture, out int n) && n > 0 ? n : world.Size;
        return Math.Max(1, Environment.ProcessorCount / ranksHere);
    }

    /// <summary>
    /// Whether <paramref name="error"/> is one the program reports as a user error (bad input file, bad checkpoint,
    /// full disk, …): <c>error: message</c> and exit code 1. Everything else goes to <see cref="ReportUnexpected"/>.
    /// </summary>
    /// <param name="error">The exception.</param>
    /// <returns>Whether it is a foreseen error whose message says what to fix.</returns>
    internal static bool IsUserError(Exception error) => error is IOException or InvalidDataException or FormatException
        or System.Text.Json.JsonException or ArgumentException or InvalidOperationException or UnauthorizedAccessException
        or NotSupportedException or AdapterException or SafetensorsFormatException or MpiException;

    /// <summary>
    /// Reports an exception nobody foresaw: writes its full text (type, message, stack, inner exceptions) to a log file
    /// and one line naming it and the log to <paramref name="error"/>. Also used for exceptions on other threads.
    /// </summary>
    /// <param name="exception">The exception.</param>
    /// <param name="error">Where the one line goes (standard error).</param>
    /// <returns>Exit code 1.</returns>
    internal static int ReportUnexpected(Exception exception, TextWriter error)
    {
        string summary = $"{exception.GetType().Name}: {exception.Message}".ReplaceLineEndings(" ");
        string? logPath = null;
        try
        {
            logPath = Path.Combine(Path.GetTempPath(), $"glue-finetune-error-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Environment.ProcessId}.log");
            File.WriteAllText(logPath, $"GlueFineTune, {DateTime.UtcNow:O}, args: {string.Join(' ', Environment.GetCommandLineArgs().Skip(1))}{Environment.NewLine}{exception}{Environment.NewLine}");
        }
        catch (Exception logError) when (logError is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            logPath = null;
        }

        error.WriteLine(logPath is null
            ? $"error: unexpected {summary} (the details could not be written to a log file; please report this)"
            : $"error: unexpected {summary}; details in {logPath} (please report this with that file)");
        return 1;
    }

    private static int RunGlue(TrainingOptions options, int? maxTrainExamples, bool interactive, CancellationToken cancellation, MpiWorld? world)
    {
        TextWriter log = Console.Out;
        log.WriteLine($"VectorFit GLUE fine-tuning: {options.Describe()}");
        IReadOnlyList<GlueExample> trainAll, devExamples;
        if (options.CustomData is { } custom)
        {
            (trainAll, devExamples) = (custom.Train, custom.Dev);
            log.WriteLine(custom.Describe());
        }
        else
        {
            GlueDataset train = GlueTsvReader.ReadSplit(options.Task, DataDirectory(options), GlueSplit.Train);
            GlueDataset dev = GlueTsvReader.ReadSplit(options.Task, DataDirectory(options), GlueSplit.Dev);
            (trainAll, devExamples) = (train.Examples, dev.Examples);
            log.WriteLine($"read {train.Examples.Count} examples from {train.Source} and {dev.Examples.Count} from {dev.Source}");
        }

        IReadOnlyList<GlueExample> trainExamples = maxTrainExamples is { } n ? trainAll.Take(n).ToList() : trainAll;
        MajorityBaseline? baseline = options.CustomData is null ? null : MajorityBaseline.Compute(options.Task, trainExamples, devExamples);
        if (baseline is not null)
        {
            log.WriteLine(baseline.Describe());
        }

        using TrainingSession session = TrainingSession.Create(options, trainExamples, devExamples, log, world);
        TextWriter progress = world is { IsRoot: false } ? TextWriter.Null : Console.Error;
        // For eng/mpi-tests.sh: GLUEFINETUNE_STOP_AFTER_STEP=N acts as a Ctrl+C after step N, on rank 0 alone under --distributed.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        long stopAfter = long.TryParse(Environment.GetEnvironmentVariable("GLUEFINETUNE_STOP_AFTER_STEP"), CultureInfo.InvariantCulture, out long after) ? after : -1;
        var trainer = new GlueTrainer(session, log, progress, interactive)
        {
            AfterStep = s => { if (s == stopAfter && world is not { IsRoot: false }) stop.Cancel(); },
        };
        TrainingOutcome outcome = trainer.Run(stop.Token);
        if (!outcome.Completed)
        {
            return InterruptedExitCode;
        }

        RunOutputs? outputs = null;
        if (session.Parallel is { } parallel)
        {
            parallel.RunOnRoot(() => outputs = RunOutputs.Write(session)); // rank 0 writes, the others wait
        }
        else
        {
            outputs = RunOutputs.Write(session);
        }
        if (outcome.Metrics.Best is { } best)
        {
            string metric = outcome.Metrics.MainMetric;
            log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"done: dev {outcome.LastEvaluation}; best {metric} {best.Dev[metric]:F4} at epoch {best.Epoch}"));
        }

        if (baseline is not null && outcome.LastEvaluation is { } last)
        {
            log.WriteLine(baseline.Compare(last));
        }

        foreach (string line in outputs?.Describe() ?? [])
        {
            log.WriteLine(line);
        }

        return 0;
    }

    // An exception on another thread ends the process whatever we do; still say so in one line with the log.
    private static void OnUnhandledException(object sender, UnhandledExceptionEventArgs e)
    {
        if (e.ExceptionObject is Exception exception)
        {
            ReportUnexpected(exception, Console.Error);
        }
    }

    private static string DataDirectory(TrainingOptions options) => options.DataDirectory
        ?? throw new InvalidOperationException("a GLUE run needs --data.");

    private static int RunMultiTask(MultiTaskOptions options, bool interactive, CancellationToken cancellation)
    {
        TextWriter log = Console.Out;
        log.WriteLine($"VectorFit multi-task fine-tuning: {options.Settings.Describe()}");
        foreach (TaskData task in options.Tasks)
        {
            log.WriteLine($"{task.Name}: {task.Data.Describe()}");
            log.WriteLine($"{task.Name}: {MajorityBaseline.Compute(task.Data.Task, task.Data.Train, task.Data.Dev)?.Describe()}");
        }

        using var trainer = new MultiTaskTrainer(options, log);
        MultiTaskOutcome outcome = trainer.Run(Console.Error, interactive, cancellation);
        if (!outcome.Completed)
        {
            return InterruptedExitCode;
        }

        foreach (var (name, path) in outcome.Adapters)
        {
            MetricsLog metrics = outcome.Metrics[name];
            string best = metrics.Best is { } b ? string.Create(CultureInfo.InvariantCulture, $"; best {metrics.MainMetric} {b.Dev[metrics.MainMetric]:F4} at epoch {b.Epoch}") : string.Empty;
            log.WriteLine($"  {name}: adapter {path}, metrics {Path.Combine(Path.GetDirectoryName(path)!, MetricsLog.FileName)}{best}");
        }

        return 0;
    }

    private static int RunPredict(CliOptions cli)
    {
        try
        {
            return PredictCommand.Run(cli, Console.Out, Console.Error);
        }
        catch (UsageException e)
        {
            return Usage(e, CliParser.PredictVerb);
        }
        catch (Exception e) when (IsUserError(e))
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
        catch (Exception e)
        {
            return ReportUnexpected(e, Console.Error);
        }
    }

    private static int RunImport(CliOptions cli)
    {
        try
        {
            return ImportCommand.Run(cli, Console.Out);
        }
        catch (UsageException e)
        {
            return Usage(e, CliParser.ImportVerb);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or ArgumentException or BadImageFormatException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }

    private static int Usage(UsageException e, string? verb = null)
    {
        Console.Error.WriteLine($"error: {e.Message}");
        Console.Error.WriteLine(verb is null ? "Run with --help for the options." : $"Run {verb} --help for its options.");
        return UsageException.ExitCode;
    }
}
