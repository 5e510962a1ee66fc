using System.Diagnostics;
using TorchSharp;
using VectorFit.Tests.Models;
using static TorchSharp.torch;

namespace VectorFit.Distributed.Tests;

/// <summary>
/// Data-parallel steps of an all-MiniLM-L6-v2-shaped model (VectorFit on q/k/v/o/f1/f2 + head), one thread per rank, a fixed global
/// batch split over the ranks; then the same all-reduce alone, back to back, for the pure communication time.
/// </summary>
internal static class Bench
{
    public static int Run(string[] args)
    {
        int Option(string name, int fallback)
        {
            var i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture) : fallback;
        }

        var steps = Option("--steps", 12);
        var batch = Option("--batch", 16);
        var seq = Option("--seq", 64);
        const int warmup = 2;
        torch.set_num_threads(1);
        using var world = MpiWorld.Initialize();
        var shape = new TransformerConfigShape(TinyBert.Shape(vocabulary: 1000, hidden: 384, heads: 12, feedForward: 1536, layers: 6, positions: 128), 2);
        using var trainer = new Trainer(shape, seed: 5, world, AvfOptions.None, lr: 1e-3);
        var parallel = trainer.Parallel!;
        var watch = new Stopwatch();
        TimeSpan communicationAtStart = TimeSpan.Zero;
        for (var step = 1; step <= warmup + steps; step++)
        {
            if (step == warmup + 1)
            {
                world.Barrier();
                communicationAtStart = parallel.CommunicationTime;
                watch.Start();
            }

            using var scope = NewDisposeScope();
            var (input, labels) = Data.Part(world, Data.Batch(step, shape, batch, seq));
            trainer.Step(input, labels);
        }

        world.Barrier();
        watch.Stop();
        var stepMs = watch.Elapsed.TotalMilliseconds / steps;
        var averageMs = (parallel.CommunicationTime - communicationAtStart).TotalMilliseconds / steps;

        // The all-reduce alone: the ranks are in step, so this is the transfer and reduction, without waiting for a slower rank.
        var buffer = zeros(parallel.ValueCount + parallel.Parameters.Count);
        const int repeats = 200;
        world.Barrier();
        var pure = Stopwatch.StartNew();
        for (var i = 0; i < repeats; i++)
        {
            world.AllReduce(buffer);
        }

        pure.Stop();
        buffer.Dispose();
        var allReduceUs = pure.Elapsed.TotalMilliseconds * 1000 / repeats;
        if (world.IsRoot)
        {
            Console.WriteLine(
                $"bench: {world.Size} rank(s) x 1 thread, {world.Library.Split(',')[0]}; MiniLM-shaped (6 x 384, VectorFit q/k/v/o/f1/f2 + head: " +
                $"{parallel.ValueCount:N0} trainable values, all-reduce {parallel.BufferBytes / 1024.0:F0} KiB); global batch {batch} x {seq} tokens, " +
                $"{batch / world.Size} per rank; {steps} steps after {warmup} warm-up");
            Console.WriteLine(
                $"bench: step {stepMs:F1} ms ({batch * 1000 / stepMs:F1} sequences/s); AverageGradients {averageMs:F2} ms/step " +
                $"({100 * averageMs / stepMs:F1}% of the step, including waiting for the slower rank); the all-reduce alone {allReduceUs:F0} µs " +
                $"({100 * allReduceUs / 1000 / stepMs:F2}% of the step)");
        }

        return 0;
    }
}
