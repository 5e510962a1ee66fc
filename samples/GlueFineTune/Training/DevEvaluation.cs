using GlueFineTune.Data;
using GlueFineTune.Metrics;
using VectorFit.Distributed;
using VectorFit.Transformers.Models;
using static TorchSharp.torch;

namespace GlueFineTune.Training;

/// <summary>Scores a model on a labelled split with the task's metrics (eval mode, no gradients).</summary>
internal static class DevEvaluation
{
    /// <summary>Predicts every example and computes the task's metrics.</summary>
    /// <param name="model">The model.</param>
    /// <param name="data">The encoded split.</param>
    /// <param name="task">The task (its metrics; regression or classification).</param>
    /// <param name="batchSize">Examples per forward pass.</param>
    /// <param name="world">Under <c>--distributed</c>: each rank predicts its part of the split and every rank gets all predictions.</param>
    /// <returns>The metrics, main metric first.</returns>
    public static TaskEvaluation Run(SequenceClassifier model, EncodedDataset data, GlueTask task, int batchSize, MpiWorld? world = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(task);
        return GlueEvaluator.Evaluate(task, data.Examples, Predict(model, data, task.IsRegression, batchSize, world));
    }

    /// <summary>The model's prediction for every example: a class id (arg-max) or a regression value.</summary>
    /// <param name="model">The model.</param>
    /// <param name="data">The encoded split.</param>
    /// <param name="regression">Whether the head is a regressor.</param>
    /// <param name="batchSize">Examples per forward pass.</param>
    /// <param name="world">Under <c>--distributed</c>: this rank predicts its part, then the parts are summed over the ranks (zeros elsewhere).</param>
    /// <returns>One prediction per example, in order.</returns>
    public static double[] Predict(SequenceClassifier model, EncodedDataset data, bool regression, int batchSize, MpiWorld? world = null)
    {
        bool wasTraining = model.training;
        model.eval();
        var predictions = new double[data.Count];
        try
        {
            using var noGrad = no_grad();
            var (first, length) = world?.PartOf(data.Count) ?? (0, data.Count);
            for (int start = (int)first; start < first + length; start += batchSize)
            {
                using var scope = NewDisposeScope();
                int count = (int)Math.Min(batchSize, first + length - start);
                TensorBatch batch = data.MakeBatch(Enumerable.Range(start, count).ToArray());
                Tensor logits = model.call(batch.InputIds, batch.AttentionMask, batch.TokenTypeIds);
                if (regression)
                {
                    float[] values = logits.reshape(-1).to_type(ScalarType.Float32).data<float>().ToArray();
                    for (int i = 0; i < count; i++)
                    {
                        predictions[start + i] = values[i];
                    }
                }
                else
                {
                    long[] classes = logits.argmax(-1).data<long>().ToArray();
                    for (int i = 0; i < count; i++)
                    {
                        predictions[start + i] = classes[i];
                    }
                }
            }
        }
        finally
        {
            model.train(wasTraining);
        }

        if (world is null)
        {
            return predictions;
        }

        using Tensor all = tensor(predictions); // exact: each value plus zeros from the other ranks
        world.AllReduce(all);
        return all.data<double>().ToArray();
    }
}
