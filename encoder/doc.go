// Package encoder turns pixels into features for vision-language models.
package encoder
